"""/atrisk reads the coach's list after the event's transaction, in a read-only unit of work:
on SQLite the query holds no write lock, so a learner's update commits meanwhile; on
PostgreSQL the transaction is READ ONLY. The access log still records each learner shown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.runtime import Runtime
from flows.messages import Event
from storage.models import AccessLog, Group, Membership, User
from storage.repositories.coach import SqlCoachingRepository
from tests.fakes import FakeClock


async def test_the_list_is_read_without_the_write_lock(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock()
    async with runtime.uow() as uow:
        coach = await uow.users.add(
            User(
                channel="test",
                external_id="coach",
                language="en",
                language_chosen=True,
                role="coach",
                consent_version=1,
                consent_at=now,
            )
        )
        group = Group(name="G", coach_id=coach.id, join_code="g", created_at=now)
        uow.session.add(group)
        await uow.session.flush()
        for n in range(3):
            learner = await uow.users.add(
                User(
                    channel="test",
                    external_id=f"l{n}",
                    language="en",
                    display_name=f"L{n}",
                    last_seen_at=now - timedelta(days=3 * n),
                )
            )
            uow.session.add(Membership(group_id=group.id, learner_id=learner.id, joined_at=now))
        await uow.commit()

    seen: list[Any] = []
    original = SqlCoachingRepository.risk_page

    async def risk_page(self: SqlCoachingRepository, **kwargs: Any) -> Any:
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            seen.append(await connection.scalar(text("SHOW transaction_read_only")))
        else:
            # With the write lock held here, this writer would wait out the busy timeout.
            async with runtime.uow() as writer:
                await writer.users.add(User(channel="test", external_id="w", language="nl"))
                await asyncio.wait_for(writer.commit(), timeout=5)
            seen.append("on")
        return await original(self, **kwargs)

    monkeypatch.setattr(SqlCoachingRepository, "risk_page", risk_page)
    replies = await runtime.engine.handle(
        channel="test", external_id="coach", event=Event(kind="command", command="atrisk")
    )
    assert seen == ["on"]
    text_shown = replies[0].text
    assert text_shown.index("1. L2") < text_shown.index("2. L1") < text_shown.index("3. L0")
    async with runtime.sessionmaker() as session:
        logged = list(await session.scalars(select(AccessLog.what)))
    assert logged == ["atrisk_list"] * 3
