"""The SQLite driver (storage/sqlite.py) makes one trip to aiosqlite's thread per statement
and behaves as SQLAlchemy's stock aiosqlite driver does: rows, counts, ids, errors,
rollbacks; datetimes go in and out of SQLite in one step each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, exc, insert, select, text
from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.models.base import UTCDateTime


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions sent to aiosqlite's thread."""
    sent: list[str] = []
    stock = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await stock(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    yield sent


async def test_a_statement_is_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')"))
        trips.clear()
        rows = (await connection.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert trips == ["_run"]  # stock: cursor, execute, fetchall, close
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b"), (3, "c")]
    # BEGIN, the statement, COMMIT; the pool's rollback after a commit makes no trip.
    trips.clear()
    async with engine.begin() as connection:
        await connection.execute(text("SELECT 1"))
    assert trips == ["_run", "_run", "commit"]


async def test_counts_ids_and_many_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert inserted.lastrowid == 1
        await connection.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"n{n}"} for n in range(500)]
        )
        updated = await connection.execute(text("UPDATE t SET v = v || '!' WHERE id > 100"))
        assert updated.rowcount == 401
        result = await connection.execute(text("SELECT v FROM t ORDER BY id"))
        assert result.fetchone() == ("x",)
        assert [r[0] for r in result.fetchmany(2)] == ["n0", "n1"]
        assert len(result.fetchall()) == 498
        empty = await connection.execute(text("SELECT v FROM t WHERE id < 0"))
        assert empty.first() is None


async def test_errors_are_sqlalchemys_and_roll_back(engine: AsyncEngine) -> None:
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('same')"))
            await connection.execute(text("INSERT INTO t (v) VALUES ('same')"))
    with pytest.raises(exc.OperationalError):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT nothing FROM nowhere"))
    async with engine.connect() as connection:
        # Nothing of the failed transaction stayed.
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_rollback_in_a_transaction_undoes_it(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("INSERT INTO t (v) VALUES ('kept?')"))
        await transaction.rollback()
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_streaming_still_works(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(n)} for n in range(50)]
        )
    async with engine.connect() as connection:
        streamed = await connection.stream(text("SELECT v FROM t ORDER BY id"))
        values = [row[0] async for row in streamed]
    assert values == [str(n) for n in range(50)]


async def test_datetimes_are_stored_as_sqlalchemy_stores_them_and_come_back_in_utc(
    engine: AsyncEngine,
) -> None:
    """UTCDateTime's one-step SQLite processors write SQLAlchemy's own text format (rows
    written before compare and sort with the new ones) and read any such text as aware UTC."""
    table = Table("moments", MetaData(), Column("id", Integer, primary_key=True))
    table.append_column(Column("at", UTCDateTime))
    brussels = timezone(timedelta(hours=2))
    moments = [
        datetime(2026, 3, 16, 8, 0, tzinfo=brussels),
        datetime(2026, 10, 25, 2, 30, 0, 123456, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5))),
    ]
    stock = DATETIME().bind_processor(engine.dialect)
    async with engine.begin() as connection:
        await connection.run_sync(table.create)
        await connection.execute(insert(table), [{"at": at} for at in moments])
        stored = (await connection.execute(text("SELECT at FROM moments ORDER BY id"))).all()
        assert [row[0] for row in stored] == [stock(at.astimezone(UTC)) for at in moments]
        # Text written another way: without microseconds, with a T, with its own offset.
        for value in ("2026-03-16 06:00:00", "2026-03-16T06:00:00", "2026-03-16 08:00:00+02:00"):
            await connection.execute(text("INSERT INTO moments (at) VALUES (:v)"), {"v": value})
        read = (await connection.execute(select(table.c.at).order_by(table.c.id))).scalars()
        back = list(read)
    assert back == [*moments, *[datetime(2026, 3, 16, 6, tzinfo=UTC)] * 3]
    assert all(at.tzinfo is UTC for at in back)
    with pytest.raises(exc.StatementError, match="naive datetime"):
        async with engine.begin() as connection:
            await connection.execute(insert(table), {"at": datetime(2026, 3, 16, 8)})
