"""`opstap purge [--dry-run]`, `opstap backup PATH` and the webhook settings check."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.runtime import Runtime
from storage.models import User


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


def test_backup_copies_sqlite_online_and_refuses_to_overwrite(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    add_learners(env)
    reader = sqlite3.connect(env)  # an open connection does not stop the online backup
    target = tmp_path / "backup.db"
    assert main(["backup", str(target)]) == 0
    reader.close()
    assert externals(target) == ["1", "2"]
    assert main(["backup", str(target)]) == 1
    assert "exists already" in capsys.readouterr().err


def test_backup_of_postgresql_points_to_pg_dump(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSTAP_DATABASE_URL", "postgresql+asyncpg://opstap@localhost/opstap")
    assert main(["backup", str(tmp_path / "x")]) == 1
    assert "pg_dump" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_webhook_mode_needs_a_secret(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSTAP_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("OPSTAP_WEBHOOK_URL", "https://opstap.example.org/telegram")
    assert main(["run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("opstap: OPSTAP_WEBHOOK_SECRET is not set")
    assert "123:abc" not in err
