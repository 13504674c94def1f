"""The SQLite driver (storage/sqlite.py) makes one trip to aiosqlite's thread per statement
and behaves as SQLAlchemy's stock aiosqlite driver does: rows, counts, ids, errors,
rollbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine


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
