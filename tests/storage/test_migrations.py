"""Migrations build exactly the schema the models describe; SQLite runs in WAL mode with
BEGIN IMMEDIATE; the file store keeps files under generated names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from storage.db import create_engine, is_sqlite
from storage.files import FileStore
from storage.migrate import upgrade
from storage.models import Base, RiskSummary
from storage.models.base import UTCDateTime
from tests.conftest import reset_schema


async def empty(database_url: str) -> None:
    """A database without any table, not even Alembic's."""
    await reset_schema(database_url)
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()


async def test_migrations_match_the_models(database_url: str) -> None:
    await empty(database_url)
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(upgrade, database_url)  # a second run changes nothing
    engine = create_engine(database_url)
    async with engine.connect() as connection:

        def diff(sync_connection):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(
                sync_connection, opts={"compare_type": True, "render_as_batch": True}
            )
            return compare_metadata(context, Base.metadata)

        differences = await connection.run_sync(diff)
    await engine.dispose()
    assert differences == []


async def test_sqlite_uses_wal_busy_timeout_cache_and_immediate_transactions(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert is_sqlite(url)
    engine = create_engine(url)
    statements: list[str] = []
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    async with engine.begin() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
        cache = (await connection.execute(text("PRAGMA cache_size"))).scalar()
    await engine.dispose()
    assert mode == "wal"
    assert timeout == 10_000
    assert cache == -16_384  # KiB: 16 MB of pages, not SQLite's 2 MB
    assert "BEGIN IMMEDIATE" in statements


def test_file_store_uses_generated_names_and_refuses_escapes(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    stored = store.save(b"hello", folder="evidence", suffix=".txt")
    assert stored.relpath.startswith("evidence/") and stored.relpath.endswith(".txt")
    assert store.path(stored.relpath).read_bytes() == b"hello"
    assert stored.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")
    with pytest.raises(ValueError):
        store.save(b"x", folder="evidence", suffix="/../../x")


async def test_the_risk_summary_is_built_and_derived_on_upgrade(database_url: str) -> None:
    """From before the summary (0017): 0018 builds it from the signals into its own columns,
    0021 derives the newest missed goals and the counted barriers from it."""
    await empty(database_url)
    await asyncio.to_thread(upgrade, database_url, "0017_answer_edits")
    users = sa.table(
        "users",
        *(sa.column(name) for name in ("id", "channel", "external_id", "language", "role")),
        *(sa.column(name) for name in ("status", "language_chosen")),
        sa.column("created_at", UTCDateTime),
    )
    signals = sa.table(
        "signals",
        sa.column("user_id"),
        sa.column("kind"),
        sa.column("at", UTCDateTime),
        sa.column("details", sa.JSON),
    )
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    history = [
        *(("goal_missed", start + timedelta(days=d), {}) for d in (1, 2, 3, 4)),
        ("barrier", start, {"barrier": "time"}),
        ("barrier", start, {"barrier": "unknown_barrier"}),
        ("barrier", start, {"barrier": "cost"}),
        ("barrier", start, {"barrier": "time"}),
    ]
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(users),
            [
                {
                    "id": i,
                    "channel": "b",
                    "external_id": str(i),
                    "language": "nl",
                    "role": "learner",
                    "status": "active",
                    "language_chosen": False,
                    "created_at": start,
                }
                for i in (1, 2)
            ],
        )
        await connection.execute(
            sa.insert(signals),
            [{"user_id": 1, "kind": k, "at": at, "details": d} for k, at, d in history],
        )
    await engine.dispose()
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(RiskSummary.__table__))).mappings().all()
    await engine.dispose()
    assert [row["user_id"] for row in rows] == [1]
    (row,) = rows
    assert [row["missed_1"], row["missed_2"], row["missed_3"]] == [
        start + timedelta(days=d) for d in (4, 3, 2)
    ]
    assert row["barrier_count"] == 2  # time and cost; time once, the unknown one not
