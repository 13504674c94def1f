"""A fatal start-up error, through the real `opstap run` process: one clear line naming the
setting, a non-zero status, no traceback (unless OPSTAP_LOG_LEVEL=DEBUG, and then redacted),
and never the token. Also `opstap health` against a running `opstap run` in polling mode,
`opstap --version`, OPSTAP_LOG_FORMAT=json and the excepthook."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.health import heartbeat_check, run_checks, write_heartbeat
from tests.fake_telegram import TOKEN

WEBHOOK_SECRET = "a-webhook-secret-never-shown"
DB_PASSWORD = "db-password-never-shown"


def secrets_in(text: str) -> list[str]:
    """The secrets (or their telling halves) that appear in text."""
    pieces = [TOKEN, TOKEN.split(":")[1], WEBHOOK_SECRET, DB_PASSWORD]
    return [piece for piece in pieces if piece in text]


class BotApi(BaseHTTPRequestHandler):
    """A Bot API that answers every call with `status` (200: a bot with no updates)."""

    status = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        method = self.path.rsplit("/", 1)[-1]
        result: Any = True
        if method == "getMe":
            result = {"id": 999, "is_bot": True, "first_name": "Opstap", "username": "opstap_bot"}
        elif method == "getUpdates":
            time.sleep(0.2)
            result = []
        if self.status == 200:
            body: dict[str, Any] = {"ok": True, "result": result}
        else:
            body = {"ok": False, "error_code": self.status, "description": "Unauthorized"}
        payload = json.dumps(body).encode()
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a long poll cut short when the bot stops is no error here


def serve(status: int) -> Iterator[str]:
    handler = type(f"BotApi{status}", (BotApi,), {"status": status})
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bot"
    server.shutdown()
    server.server_close()


@pytest.fixture
def good_api() -> Iterator[str]:
    yield from serve(200)


@pytest.fixture(params=[401, 404])
def rejecting_api(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from serve(request.param)


@pytest.fixture
def unauthorized_api() -> Iterator[str]:
    yield from serve(401)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSTAP_")}
    env.update(
        OPSTAP_TELEGRAM_TOKEN=TOKEN,
        OPSTAP_WEBHOOK_SECRET=WEBHOOK_SECRET,
        OPSTAP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'opstap.db'}",
        OPSTAP_DATA_DIR=str(tmp_path / "data"),
    )
    env.update(settings)
    return env


def opstap(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], setting: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert not secrets_in(output)
    lines = [line for line in result.stderr.splitlines() if line.startswith("opstap:")]
    assert len(lines) == 1, output
    assert setting in lines[0]
    # Besides the one line, only ordinary log lines (alembic's, at INFO).
    others = [line for line in result.stderr.splitlines() if line not in lines]
    assert not [line for line in others if " ERROR " in line or line.startswith("  File ")]
    return lines[0]


def test_a_rejected_token_is_one_line(tmp_path: Path, rejecting_api: str) -> None:
    result = opstap(
        "run", env=environment(tmp_path, OPSTAP_TELEGRAM_API_URL=rejecting_api), cwd=tmp_path
    )
    line = assert_one_clear_line(result, "OPSTAP_TELEGRAM_TOKEN")
    assert "rejected" in line and "OPSTAP_TELEGRAM_API_URL" in line


def test_a_wrong_api_url_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/bot"
    result = opstap("run", env=environment(tmp_path, OPSTAP_TELEGRAM_API_URL=url), cwd=tmp_path)
    line = assert_one_clear_line(result, "OPSTAP_TELEGRAM_API_URL")
    assert "could not reach" in line and url in line


def test_a_database_that_is_down_is_one_line(tmp_path: Path, good_api: str) -> None:
    url = f"postgresql+asyncpg://opstap:{DB_PASSWORD}@127.0.0.1:{closed_port()}/opstap"
    result = opstap(
        "run",
        env=environment(tmp_path, OPSTAP_DATABASE_URL=url, OPSTAP_TELEGRAM_API_URL=good_api),
        cwd=tmp_path,
    )
    line = assert_one_clear_line(result, "OPSTAP_DATABASE_URL")
    assert "does not answer" in line and "opstap:***@127.0.0.1" in line


def test_a_failed_migration_is_one_line(tmp_path: Path, good_api: str) -> None:
    env = environment(tmp_path, OPSTAP_TELEGRAM_API_URL=good_api)
    assert opstap("migrate", env=env, cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "opstap.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    line = assert_one_clear_line(opstap("run", env=env, cwd=tmp_path), "OPSTAP_DATABASE_URL")
    assert "migration failed" in line and "9999_from_the_future" in line


def test_debug_shows_the_traceback_with_secrets_redacted(
    tmp_path: Path, unauthorized_api: str
) -> None:
    env = environment(tmp_path, OPSTAP_TELEGRAM_API_URL=unauthorized_api, OPSTAP_LOG_LEVEL="debug")
    result = opstap("run", env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" in output and "InvalidToken" in output
    assert "<redacted>" in output  # httpx's request URLs and the exception's message
    assert not secrets_in(output)
    assert result.stderr.splitlines()[-1].startswith("opstap: Telegram rejected")


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/bot"
    env = environment(tmp_path, OPSTAP_TELEGRAM_API_URL=url, OPSTAP_LOG_FORMAT="json")
    result = opstap("run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"level", "logger", "message", "timestamp"} <= set(records[-1])
    assert records[-1]["level"] == "CRITICAL"
    assert "OPSTAP_TELEGRAM_API_URL" in records[-1]["message"]
    assert not secrets_in(result.stderr)


@pytest.mark.parametrize("debug", [False, True])
def test_the_excepthook_prints_no_secret(tmp_path: Path, debug: bool) -> None:
    script = (
        "from bot.logsafety import install_excepthook, protect\n"
        f"protect({TOKEN!r})\n"
        f"install_excepthook(debug={debug})\n"
        f"raise RuntimeError('failed with ' + {TOKEN!r})\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert not secrets_in(result.stderr)
    if debug:
        assert "Traceback" in result.stderr and "RuntimeError: failed with <redacted>" in (
            result.stderr
        )
    else:
        assert result.stderr.count("\n") == 1
        assert "RuntimeError" in result.stderr and "OPSTAP_LOG_LEVEL=DEBUG" in result.stderr


def test_version(tmp_path: Path) -> None:
    result = opstap("--version", env=environment(tmp_path), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("opstap ")


async def test_health_checks_without_a_running_bot(
    tmp_path: Path, good_api: str, unauthorized_api: str
) -> None:
    env = environment(tmp_path, OPSTAP_TELEGRAM_API_URL=good_api)
    assert opstap("migrate", env=env, cwd=tmp_path).returncode == 0
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{
            key.removeprefix("OPSTAP_").lower(): value
            for key, value in env.items()
            if key.startswith("OPSTAP_")
        },
    )
    checks = {check.name: check for check in await run_checks(settings, process=True)}
    assert checks["database"].ok and checks["telegram"].ok
    assert checks["telegram"].detail == "@opstap_bot"
    assert not checks["process"].ok and "is opstap run running?" in checks["process"].detail
    write_heartbeat(settings.data_dir)
    assert heartbeat_check(settings.data_dir).ok
    assert not heartbeat_check(settings.data_dir, now=time.time() + 600).ok
    rejected = settings.model_copy(update={"telegram_api_url": unauthorized_api})
    checks = {check.name: check for check in await run_checks(rejected, process=False)}
    assert not checks["telegram"].ok and "OPSTAP_TELEGRAM_TOKEN" in checks["telegram"].detail
    assert "process" not in checks
    down = settings.model_copy(
        update={
            "database_url": f"postgresql+asyncpg://u:{DB_PASSWORD}@127.0.0.1:{closed_port()}/x"
        }
    )
    (database,) = [
        check for check in await run_checks(down, process=False) if check.name == "database"
    ]
    assert not database.ok and "does not answer" in database.detail
    assert not secrets_in(database.line())


def test_health_in_polling_mode(tmp_path: Path, good_api: str) -> None:
    env = environment(tmp_path, OPSTAP_TELEGRAM_API_URL=good_api)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "data" / "heartbeat").exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        running = opstap("health", env=env, cwd=tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert running.returncode == 0, running.stdout
    assert running.stdout.splitlines() == [
        "database: ok (schema at " + running.stdout.split("schema at ")[1].split(")")[0] + ")",
        "telegram: ok (@opstap_bot)",
        running.stdout.splitlines()[2],
    ]
    assert running.stdout.splitlines()[2].startswith("process: ok (heartbeat ")
    assert not secrets_in(running.stdout + stderr)
    # The outbox job runs every second; at INFO its runs are not logged (only its warnings).
    assert "Running job" not in stderr and "executed successfully" not in stderr


def test_debug_logs_never_quote_learners() -> None:
    """At DEBUG, the libraries that log SQL parameters or whole updates stay at INFO."""
    import logging

    from bot.logsafety import configure

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure(level="DEBUG", json=False)
        assert root.level == logging.DEBUG
        for name in ("aiosqlite", "telegram.ext.Application"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
        # SQLAlchemy logs each statement with its parameters at INFO.
        assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() >= logging.WARNING
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name in (
            *("aiosqlite", "sqlalchemy", "asyncpg", "telegram", "httpx", "httpcore"),
            "apscheduler",
        ):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_run_tunes_the_collector_before_it_serves(
    tmp_path: Path, good_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`opstap run` sets the collector's thresholds (bot/runtime.py, GC_THRESHOLDS) before it
    serves: the planning benchmark measured a third of a round's CPU in collections without."""
    import argparse
    import asyncio
    import gc

    import bot.telegram
    from bot.cli import cmd_run
    from bot.runtime import GC_THRESHOLDS

    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(bot.telegram, "run_polling", lambda app: seen.append(gc.get_threshold()))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_token=TOKEN,  # type: ignore[arg-type]
        telegram_api_url=good_api,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'opstap.db'}",
        data_dir=tmp_path / "data",
    )
    before = gc.get_threshold()
    try:
        assert cmd_run(settings, argparse.Namespace(webhook=False)) == 0
    finally:
        gc.set_threshold(*before)
        asyncio.get_event_loop().close()
        asyncio.set_event_loop(None)
    assert before != GC_THRESHOLDS
    assert seen == [GC_THRESHOLDS]
