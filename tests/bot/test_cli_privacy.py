"""`opstap purge [--dry-run]`, `opstap backup PATH` and the webhook settings check."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import stat
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.cli import main
from bot.config import Settings
from bot.runtime import Runtime
from storage.db import create_engine
from storage.models import InboxUpdate, User
from tests.conftest import POSTGRES_URL, reset_schema


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment with an SQLite database in tmp_path; returns the database file."""
    monkeypatch.chdir(tmp_path)
    for name in ("OPSTAP_TELEGRAM_TOKEN", "OPSTAP_WEBHOOK_URL", "OPSTAP_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "opstap.db"
    monkeypatch.setenv("OPSTAP_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("OPSTAP_DATA_DIR", str(tmp_path / "data"))
    return database


def add_learners(database: Path) -> None:
    async def seed() -> None:
        runtime = Runtime.create(
            Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{database}")  # type: ignore[call-arg]
        )
        async with runtime.sessionmaker() as session:
            now = datetime.now(UTC)
            for external, seen in (("1", now - timedelta(days=800)), ("2", now)):
                session.add(
                    User(
                        channel="telegram", external_id=external, language="nl", last_seen_at=seen
                    )
                )
            await session.commit()
        await runtime.close()

    asyncio.run(seed())


def externals(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [r[0] for r in connection.execute("SELECT external_id FROM users ORDER BY id")]


def test_purge_lists_then_erases_long_inactive_learners(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    add_learners(env)
    capsys.readouterr()
    assert main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Would erase 1 learner(s) inactive for more than 12 months.")
    assert externals(env) == ["1", "2"]
    assert main(["purge"]) == 0
    assert capsys.readouterr().out.startswith("Erased 1 learner(s)")
    assert externals(env) == ["2"]


def test_retention_months_is_a_setting(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSTAP_RETENTION_MONTHS", "0")
    assert main(["purge", "--dry-run"]) == 2
    assert "OPSTAP_RETENTION_MONTHS is not valid" in capsys.readouterr().err
    monkeypatch.setenv("OPSTAP_RETENTION_MONTHS", "36")
    assert main(["migrate"]) == 0
    add_learners(env)
    capsys.readouterr()
    assert main(["purge", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("Would erase 0 learner(s)")


def test_backup_is_one_private_archive_and_restore_puts_it_back(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["migrate"]) == 0
    add_learners(env)
    upload = tmp_path / "data" / "uploads" / "u1" / "photo.jpg"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"a photo")
    reader = sqlite3.connect(env)  # an open connection does not stop the online backup
    target = tmp_path / "backup.tar.gz"
    assert main(["backup", str(target)]) == 0
    reader.close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with tarfile.open(target) as archive:
        names = set(archive.getnames())
    assert {"manifest.json", "opstap.db", "data/uploads/u1/photo.jpg"} <= names
    assert main(["backup", str(target)]) == 1
    assert "exists already" in capsys.readouterr().err

    # A database that holds users is not replaced without --force.
    assert main(["restore", str(target)]) == 1
    assert "--force" in capsys.readouterr().err

    # On a new machine: nothing there yet.
    fresh = tmp_path / "new"
    monkeypatch.setenv("OPSTAP_DATABASE_URL", f"sqlite+aiosqlite:///{fresh / 'opstap.db'}")
    monkeypatch.setenv("OPSTAP_DATA_DIR", str(fresh / "data"))
    assert main(["restore", str(target)]) == 0
    assert externals(fresh / "opstap.db") == ["1", "2"]
    assert (fresh / "data" / "uploads" / "u1" / "photo.jpg").read_bytes() == b"a photo"
    assert stat.S_IMODE((fresh / "opstap.db").stat().st_mode) == 0o600
    assert main(["restore", str(tmp_path / "missing.tar.gz")]) == 1


def test_restore_refuses_what_is_not_a_backup(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file")
    assert main(["restore", str(junk)]) == 1
    assert "not an Opstap backup" in capsys.readouterr().err


async def drop_schema(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.mark.skipif(
    not POSTGRES_URL or shutil.which("pg_dump") is None, reason="needs PostgreSQL and pg_dump"
)
def test_backup_and_restore_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert POSTGRES_URL is not None
    url = POSTGRES_URL
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSTAP_DATABASE_URL", url)
    monkeypatch.setenv("OPSTAP_DATA_DIR", str(tmp_path / "data"))
    asyncio.run(reset_schema(url))
    asyncio.run(drop_schema(url))
    assert main(["migrate"]) == 0

    async def users(add: bool = False) -> list[str]:
        runtime = Runtime.create(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        async with runtime.sessionmaker() as session:
            if add:
                session.add(User(channel="telegram", external_id="7", language="fr"))
                await session.commit()
            found = [u.external_id for u in (await session.scalars(select(User))).all()]
        await runtime.close()
        return found

    asyncio.run(users(add=True))
    target = tmp_path / "pg.tar.gz"
    assert main(["backup", str(target)]) == 0, capsys.readouterr().err
    asyncio.run(drop_schema(url))  # the database is lost
    assert main(["restore", str(target), "--force"]) == 0, capsys.readouterr().err
    assert asyncio.run(users()) == ["7"]


def test_webhook_mode_needs_a_secret(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSTAP_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("OPSTAP_WEBHOOK_URL", "https://opstap.example.org/telegram")
    assert main(["run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("opstap: OPSTAP_WEBHOOK_SECRET is not set")
    assert "123:abc" not in err


def test_inbox_lists_what_was_set_aside_without_its_content(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0

    async def seed() -> None:
        runtime = Runtime.create(
            Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{env}")
        )  # type: ignore[call-arg]
        async with runtime.sessionmaker() as session:
            now = datetime.now(UTC)
            for update_id in (41, 42):
                session.add(
                    InboxUpdate(
                        update_id=update_id,
                        channel="telegram",
                        payload={"message": {"text": "Secret words of Fatma"}},
                        attempts=3,
                        error="KeyError",
                        set_aside_at=now,
                    )
                )
            await session.commit()
        await runtime.close()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["inbox"]) == 0
    out = capsys.readouterr().out
    assert "2 update(s) set aside." in out and "41  telegram  KeyError  tried 3x" in out
    assert "Secret" not in out
    assert main(["inbox", "--retry", "41", "--drop", "42"]) == 0
    out = capsys.readouterr().out
    assert "1 update(s) put back in line" in out and "1 update(s) erased." in out
    assert "0 update(s) set aside." in out
