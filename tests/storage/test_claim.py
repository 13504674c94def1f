"""The claim of an update: recorded once, its inbox row gone in the same transaction, and of
two units of work racing on one update only one gets it (the other once the first rolls back).
Runs on SQLite and, with OPSTAP_TEST_DATABASE_URL, on PostgreSQL. The claim is one statement
on both: SQLite's inbox row goes by a trigger, PostgreSQL's in a CTE of the claim."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event, func, select, text

from bot.runtime import Runtime
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import InboxUpdate, ProcessedUpdate
from tests.fakes import FakeClock


async def counts(runtime: Runtime) -> tuple[int, int]:
    """(inbox rows, processed updates)."""
    async with runtime.sessionmaker() as session:
        inbox = await session.scalar(select(func.count()).select_from(InboxUpdate))
        processed = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
        return int(inbox or 0), int(processed or 0)


async def test_a_claim_records_the_update_once_and_takes_it_out_of_the_inbox(
    runtime: Runtime, clock: FakeClock
) -> None:
    async with runtime.uow() as uow:
        await uow.inbox.store([InboxUpdate(update_id=5, channel="telegram", payload={})])
        await uow.commit()
    assert await counts(runtime) == (1, 0)

    async with runtime.uow() as uow:
        assert await uow.updates.claim(5, at=clock.now)
        await uow.commit()
    assert await counts(runtime) == (0, 1)

    async with runtime.uow() as uow:
        assert not await uow.updates.claim(5, at=clock.now)
    async with runtime.uow() as uow:  # one that never went through the inbox
        assert await uow.updates.claim(6, at=clock.now)
        await uow.commit()
    assert await counts(runtime) == (0, 2)


async def test_a_rolled_back_claim_leaves_the_update_in_the_inbox(
    runtime: Runtime, clock: FakeClock
) -> None:
    async with runtime.uow() as uow:
        await uow.inbox.store([InboxUpdate(update_id=8, channel="telegram", payload={})])
        await uow.commit()
    async with runtime.uow() as uow:
        assert await uow.updates.claim(8, at=clock.now)
        await uow.rollback()
    assert await counts(runtime) == (1, 0)


async def test_of_two_racing_claims_the_second_gets_it_only_after_a_rollback(
    runtime: Runtime, clock: FakeClock
) -> None:
    async with runtime.uow() as uow:
        await uow.inbox.store([InboxUpdate(update_id=9, channel="telegram", payload={})])
        await uow.commit()

    async def second() -> bool:
        async with runtime.uow() as uow:
            claimed = await uow.updates.claim(9, at=clock.now)
            if claimed:
                await uow.commit()
            return claimed

    async with runtime.uow() as first:
        assert await first.updates.claim(9, at=clock.now)
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # it waits for the first transaction
        await first.rollback()
    assert await asyncio.wait_for(waiting, timeout=10)
    assert await counts(runtime) == (0, 1)

    async with runtime.uow() as first:
        assert not await first.updates.claim(9, at=clock.now)


async def test_the_claim_is_one_statement_after_begin(runtime: Runtime, clock: FakeClock) -> None:
    """SQLite: the inbox row goes by the trigger; PostgreSQL: in the claim's CTE."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0])

    event.listen(runtime.db.sync_engine, "before_cursor_execute", record)
    try:
        async with runtime.uow() as uow:
            assert await uow.updates.claim(11, at=clock.now)
    finally:
        event.remove(runtime.db.sync_engine, "before_cursor_execute", record)
    assert [s for s in statements if s != "BEGIN"] in (["INSERT"], ["WITH"])


async def test_migrated_sqlite_has_the_trigger(tmp_path: Path) -> None:
    """A database built by the migrations deletes a claimed update's inbox row as well."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO inbox_updates (update_id, channel, payload, received_at,"
                    " attempts) VALUES (3, 'telegram', '{}', '2026-01-01 00:00:00', 0)"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO processed_updates (update_id, processed_at)"
                    " VALUES (3, '2026-01-01 00:00:00')"
                )
            )
            left = await connection.scalar(text("SELECT count(*) FROM inbox_updates"))
    finally:
        await engine.dispose()
    assert left == 0
