"""Migrations build exactly the schema the models describe; SQLite runs in WAL mode with
BEGIN IMMEDIATE; the file store keeps files under generated names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from storage.db import create_engine, is_sqlite
from storage.files import FileStore
from storage.migrate import upgrade
from storage.models import Base
from tests.conftest import reset_schema


async def test_migrations_match_the_models(database_url: str) -> None:
    await reset_schema(database_url)
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()
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


async def test_sqlite_uses_wal_busy_timeout_and_immediate_transactions(tmp_path: Path) -> None:
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
    await engine.dispose()
    assert mode == "wal"
    assert timeout == 10_000
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
