"""A read-only unit of work on SQLite reads a snapshot without the write lock, so a coach's
long query never keeps a learner's update waiting; it cannot commit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from storage.db import is_sqlite
from storage.models import User
from storage.uow import SqlUnitOfWork


async def test_a_reader_does_not_block_a_writer(runtime: Runtime) -> None:
    async with runtime.reader() as reader:
        before = await reader.session.scalar(select(func.count()).select_from(User))
        # The reader's transaction is open; a writer commits at once (with BEGIN IMMEDIATE
        # for the reader it would wait for the 10-second busy timeout and fail).
        async with runtime.uow() as writer:
            await writer.users.add(User(channel="t", external_id="w", language="nl"))
            await asyncio.wait_for(writer.commit(), timeout=5)
        again = await reader.session.scalar(select(func.count()).select_from(User))
        if is_sqlite(runtime.settings.database_url):
            assert again == before  # its own snapshot
        with pytest.raises(RuntimeError):
            await reader.commit()
    async with runtime.reader() as reader:
        assert await reader.session.scalar(select(func.count()).select_from(User)) == 1


def test_units_of_work_write_by_default(runtime: Runtime) -> None:
    assert not SqlUnitOfWork(runtime.sessionmaker).read_only
