"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL when
OPSTAP_TEST_DATABASE_URL is set), settings that point at a fake Bot API, a movable clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import Settings
from bot.runtime import Runtime
from flows import pdf
from storage.db import create_engine, is_sqlite
from storage.models import Base
from tests.fake_telegram import API_URL, FILE_URL, TOKEN, FakeTelegram
from tests.fakes import FakeClock

POSTGRES_URL = os.environ.get("OPSTAP_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def quick_send_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replies that failed to send after their update was handled are tried again at once
    (bot.inbox.deliver), not after seconds."""
    import bot.inbox

    monkeypatch.setattr(bot.inbox, "SEND_PAUSES", (0.0, 0.0, 0.0))


@pytest.fixture(autouse=True)
def no_libreoffice(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests see no LibreOffice unless marked `libreoffice`: a PDF takes seconds,
    and most export tests check other things (tests/flows/test_pdf.py checks the PDF)."""
    if request.node.get_closest_marker("libreoffice") is None:
        monkeypatch.setattr(pdf, "soffice", lambda: None)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A database URL for this test: its own SQLite file, or the test PostgreSQL database."""
    return POSTGRES_URL or f"sqlite+aiosqlite:///{tmp_path / 'opstap.db'}"


async def reset_schema(url: str) -> None:
    """Drops everything and creates the current schema."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            if is_sqlite(url):
                await connection.run_sync(Base.metadata.drop_all)
            else:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
            await connection.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture
async def schema(database_url: str) -> str:
    """A database with the current schema and no rows."""
    await reset_schema(database_url)
    return database_url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_token=TOKEN,  # type: ignore[arg-type]
        telegram_api_url=API_URL,
        telegram_file_url=FILE_URL,
        database_url=database_url,
        data_dir=tmp_path / "data",
    )


@pytest.fixture
async def runtime(schema: str, settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    """The real composition root on a fresh database, with a movable clock."""
    runtime = Runtime.create(settings, clock=clock)
    yield runtime
    await runtime.close()


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram()


#: Tests of `opstap` as a process on its own SQLite file, whatever the test database: the
#: PostgreSQL run of the suite would only repeat them.
SQLITE_PROCESS_MODULES = frozenset(
    {
        "tests/bot/test_crash_process.py",
        "tests/bot/test_startup.py",
        "tests/bot/test_webhook_process.py",
        "tests/bot/test_whatsapp_process.py",
        "tests/test_packaging.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="runs opstap on its own SQLite file: done in the SQLite run")
    root = Path(str(config.rootpath))
    for item in items:
        if Path(str(item.path)).relative_to(root).as_posix() in SQLITE_PROCESS_MODULES:
            item.add_marker(skip)
