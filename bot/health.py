"""Is Opstap healthy? The checks behind `opstap health`, the start-up check of `opstap run`,
and the one line that explains a start-up failure.

- The database answers, and its schema is at the newest migration.
- The Bot API answers `getMe` with the token (when OPSTAP_TELEGRAM_TOKEN is set).
- A running `opstap run` writes a heartbeat file (`OPSTAP_DATA_DIR/heartbeat`) from its job
  queue every HEARTBEAT_SECONDS; it is fresh while the process and its event loop run. In
  webhook mode each worker answers `GET /healthz` as well.

`opstap health` prints one line per check and exits 0 when all pass, 1 otherwise, so it
serves as a Docker HEALTHCHECK, a systemd or monitoring probe. No line holds a secret.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import Settings

HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_SECONDS = 30
#: A heartbeat older than this means the process is gone or stuck.
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAILED'} ({self.detail})"


def explain(error: BaseException, settings: Settings) -> str | None:
    """One line for an error caused by the setup (the token, the Bot API URL, the database),
    naming the setting; None for anything else (a bug). The caller redacts it too."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError
    from telegram.error import InvalidToken, NetworkError, TelegramError

    database = make_url(settings.database_url).render_as_string(hide_password=True)
    if isinstance(error, InvalidToken):
        return (
            "Telegram rejected OPSTAP_TELEGRAM_TOKEN (getMe answered 401 or 404): check the "
            "token from @BotFather, and that OPSTAP_TELEGRAM_API_URL "
            f"({settings.telegram_api_url}) is a Bot API URL."
        )
    if isinstance(error, NetworkError):
        return (
            f"could not reach the Bot API at OPSTAP_TELEGRAM_API_URL "
            f"({settings.telegram_api_url}): {error.message}"
        )
    if isinstance(error, TelegramError):
        return (
            f"Telegram refused a start-up call ({type(error).__name__}: {error.message}): "
            "check OPSTAP_TELEGRAM_TOKEN, OPSTAP_TELEGRAM_API_URL and OPSTAP_WEBHOOK_URL."
        )
    if isinstance(error, CommandError):
        return f"the database migration failed on OPSTAP_DATABASE_URL ({database}): {error}"
    if isinstance(error, TimeoutError):
        return f"the database at OPSTAP_DATABASE_URL ({database}) did not answer in time"
    if isinstance(error, SQLAlchemyError | OSError) or type(error).__module__.startswith(
        "asyncpg"
    ):
        if isinstance(error, OSError) and error.filename:
            path = make_url(settings.database_url).database or ""
            setting = (
                "OPSTAP_DATABASE_URL"
                if path.startswith(str(error.filename))
                else "OPSTAP_DATA_DIR"
            )
            return f"could not use {error.filename}: {error.strerror} (check {setting})"
        # The first line of a DBAPIError is the driver's message; the next ones hold the SQL.
        cause = error.orig if isinstance(error, DBAPIError) else error
        detail = (str(cause).splitlines() or [type(cause).__name__])[0][:300]
        return f"the database at OPSTAP_DATABASE_URL ({database}) does not answer: {detail}"
    return None


async def bot_name(settings: Settings) -> str:
    """The bot's username from `getMe`; raises python-telegram-bot's error when it fails."""
    from telegram import Bot

    from bot.telegram import TelegramRequest

    request = TelegramRequest(connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS)
    async with Bot(settings.token(), base_url=settings.telegram_api_url, request=request) as bot:
        return str(bot.username)


async def schema_revision(settings: Settings) -> tuple[str | None, str | None]:
    """The database's Alembic revision and the newest one; raises when the database fails."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection

    from storage.db import create_engine
    from storage.migrate import alembic_config

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), engine.connect() as connection:
            return await connection.run_sync(current), head
    finally:
        await engine.dispose()


def write_heartbeat(data_dir: Path) -> None:
    """Marks the running process alive (the file's time is what counts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / HEARTBEAT_FILE).write_text(f"{int(time.time())}\n")


def heartbeat_check(data_dir: Path, *, now: float | None = None) -> Check:
    """Whether a running `opstap run` wrote its heartbeat lately."""
    path = data_dir / HEARTBEAT_FILE
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return Check("process", ok=False, detail=f"no heartbeat in {path}: is opstap run running?")
    if age > STALE_SECONDS:
        return Check("process", ok=False, detail=f"last heartbeat {age:.0f} s ago")
    return Check("process", ok=True, detail=f"heartbeat {age:.0f} s ago")


async def run_checks(settings: Settings, *, process: bool) -> list[Check]:
    """Every check: the database, the Bot API (with a token), and the heartbeat if asked."""
    checks: list[Check] = []
    try:
        revision, head = await schema_revision(settings)
    except Exception as error:  # every failure becomes a line; a bug still shows its type
        checks.append(Check("database", ok=False, detail=_detail(error, settings)))
    else:
        checks.append(
            Check("database", ok=True, detail=f"schema at {revision}")
            if revision == head
            else Check(
                "database",
                ok=False,
                detail=f"schema at {revision}, newest is {head}: run opstap migrate",
            )
        )
    if settings.telegram_token is not None:
        try:
            name = await bot_name(settings)
        except Exception as error:
            checks.append(Check("telegram", ok=False, detail=_detail(error, settings)))
        else:
            checks.append(Check("telegram", ok=True, detail=f"@{name}"))
    if process:
        checks.append(heartbeat_check(settings.data_dir))
    return checks


def _detail(error: BaseException, settings: Settings) -> str:
    return explain(error, settings) or f"{type(error).__name__}"
