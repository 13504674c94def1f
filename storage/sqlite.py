"""SQLAlchemy's aiosqlite driver with one trip to the database thread per statement.

aiosqlite runs each sqlite3 call on its own thread and hands the result back to the event
loop. SQLAlchemy's stock adapter makes a trip for every call: open a cursor, execute, fetch
the rows, close the cursor, so three or four trips a statement. A trip costs 60 to 120
microseconds on a small machine (a thread wake-up and an event-loop wake-up), far more than
SQLite needs for the statement itself. This adapter does the four calls in one trip; the rows
wait in memory as they do with the stock adapter. Everything else (connections, commits,
errors, server-side cursors) is SQLAlchemy's and aiosqlite's own, except that a rollback with
no transaction open (the pool's, after a commit) makes no trip.

`create_engine` (storage/db.py) passes `dbapi()` as the engine's `module`; URLs stay
`sqlite+aiosqlite:///...`.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

#: What one trip brings back: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On aiosqlite's thread: the statement, its rows and the cursor's closing."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement runs in one trip; no aiosqlite cursor behind it."""

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # Not the parent's __init__: that opens an aiosqlite cursor (a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the parent's close(): nothing to close
        self._rows = collections.deque()
        self._outcome: _Outcome = (None, [], -1, None)
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[2]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[3]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing is open: the rows are already in memory."""

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        try:
            self._outcome = await_(self._execute_once(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._rows = collections.deque(self._outcome[1])

    async def _execute_once(self, operation: Any, parameters: Any, many: bool) -> _Outcome:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            result: _Outcome = await connection._execute(
                _run, connection._conn, operation, parameters, many
            )
            return result


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection, handing out `OneTripCursor`s."""

    __slots__ = ()
    _cursor_cls = OneTripCursor

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back, most often after a commit:
        # with no transaction open that is a trip for nothing.
        connection = self._connection._connection
        if connection is not None and connection.in_transaction:
            super().rollback()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite module, connecting with `OneTripConnection`."""

    def connect(self, *args: Any, **kwargs: Any) -> OneTripConnection:
        stock = super().connect(*args, **kwargs)
        return OneTripConnection(self, stock._connection)


def dbapi() -> OneTripDbapi:
    """The module to pass as `create_async_engine(..., module=...)` for sqlite+aiosqlite."""
    return OneTripDbapi(aiosqlite, sqlite3)
