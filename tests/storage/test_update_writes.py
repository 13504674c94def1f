"""What one learner update writes: the conversation once, with only the columns that changed,
and the user's `last_seen_at` only when it moved by a minute (or a nudge came since)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, select

from bot.runtime import Runtime
from flows.messages import Event
from storage.models import Conversation, User
from tests.fakes import FakeClock


@contextmanager
def writes(runtime: Runtime) -> Iterator[list[str]]:
    """The UPDATE and INSERT statements run meanwhile, as their first words."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *args: object) -> None:
        words = statement.split()
        if words[0] in ("UPDATE", "INSERT"):
            seen.append(" ".join(words[:3]))

    event.listen(runtime.db.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.db.sync_engine, "before_cursor_execute", record)


async def say(runtime: Runtime, update_id: int, event: Event) -> None:
    await runtime.engine.handle(
        channel="telegram", external_id="7", chat_id="7", event=event, update_id=update_id
    )


async def stored(runtime: Runtime) -> tuple[User, Conversation]:
    async with runtime.sessionmaker() as session:
        user = (await session.scalars(select(User))).one()
        conversation = await session.get(Conversation, user.id)
        assert conversation is not None
        return user, conversation


async def test_one_conversation_update_and_last_seen_in_steps(
    runtime: Runtime, clock: FakeClock
) -> None:
    await say(runtime, 1, Event(kind="command", command="start"))
    user, conversation = await stored(runtime)
    assert user.last_seen_at == clock.now
    asked = conversation.seq

    clock.advance(seconds=20)
    with writes(runtime) as seen:
        await say(runtime, 2, Event(kind="command", command="help"))
    assert not [w for w in seen if w.startswith("UPDATE users")]
    assert len([w for w in seen if w == "UPDATE conversations SET"]) <= 1
    user, conversation = await stored(runtime)
    assert user.last_seen_at == clock.now - timedelta(seconds=20)
    assert conversation.seq >= asked

    clock.advance(minutes=1)
    await say(runtime, 3, Event(kind="command", command="help"))
    user, _ = await stored(runtime)
    assert user.last_seen_at == clock.now


async def test_an_answer_after_a_nudge_moves_last_seen_at_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    await say(runtime, 1, Event(kind="command", command="start"))
    nudged = clock.advance(seconds=10)
    async with runtime.uow() as uow:
        user = await uow.users.by_external(channel="telegram", external_id="7")
        assert user is not None
        user.nudged_at = nudged
        await uow.commit()
    clock.advance(seconds=10)
    await say(runtime, 2, Event(kind="command", command="help"))
    user, _ = await stored(runtime)
    assert user.last_seen_at == clock.now
