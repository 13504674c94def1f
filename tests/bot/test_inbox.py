"""The durable inbox through the real Application and long polling on the fake Bot API:
updates stored before they are confirmed, poison updates set aside, failures tried again,
one user's updates in order while others go on, and downloads outside the transaction."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import bot.inbox
from bot.inbox import Inbox
from bot.runtime import Runtime
from bot.telegram import CHANNEL, accept_pending, drain, poll, raw_user_key
from flows.messages import Event
from storage.models import Conversation, InboxUpdate, ProcessedUpdate, Upload, User
from tests.bot.test_evidence_telegram import PNG, media, onboard
from tests.conftest import POSTGRES_URL
from tests.fake_telegram import BotHarness, FakeTelegram, running_bot
from tests.fakes import FakeClock

#: A poll message python-telegram-bot 22 cannot parse (its options lack `persistent_id`),
#: with words a learner wrote: they must never reach the log.
POISON_POLL = {
    "id": "5",
    "question": "Secret question of Fatma",
    "options": [{"text": "Secret option", "voter_count": 0}],
    "total_voter_count": 0,
    "is_closed": False,
    "is_anonymous": True,
    "type": "regular",
    "allows_multiple_answers": False,
}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.inbox, "PAUSES", (0.0, 0.0))
    # Kept replies go at the start on PostgreSQL too (one worker here; the grace has its test).
    monkeypatch.setattr(bot.inbox, "RESEND_GRACE", timedelta(0))


@asynccontextmanager
async def polling(runtime: Runtime, telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    """The bot as `opstap run` runs it: pending updates first, then long polling."""
    async with running_bot(runtime, telegram) as harness:
        await harness.app.start()
        await accept_pending(harness.app)
        stop = asyncio.Event()
        task = asyncio.create_task(poll(harness.app, stop))
        try:
            yield harness
        finally:
            stop.set()
            await task
            await drain(harness.app)
            await harness.app.stop()


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def answered(telegram: FakeTelegram, user: int) -> list[str]:
    return [c.text for c in telegram.sent() if int(c.params["chat_id"]) == user]


async def rows(runtime: Runtime, model: Any) -> list[Any]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(model))).all())


async def kept_replies(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        query = select(func.count()).where(ProcessedUpdate.replies.is_not(None))
        return int(await session.scalar(query) or 0)


async def test_a_poison_update_is_set_aside_and_the_others_go_on(
    runtime: Runtime, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    poison = telegram.message(5, poll=POISON_POLL)
    telegram.queue(poison)
    telegram.queue(telegram.text(6, "/start"))
    async with polling(runtime, telegram):
        await until(lambda: bool(answered(telegram, 6)))
        telegram.queue(telegram.text(7, "/start"))
        await until(lambda: bool(answered(telegram, 7)))
    aside = await rows(runtime, InboxUpdate)
    assert [(u.update_id, u.set_aside_at is not None) for u in aside] == [
        (poison["update_id"], True)
    ]
    assert aside[0].payload == poison  # kept for an operator
    lines = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(lines) == 1 and f"update {poison['update_id']} set aside: " in lines[0]
    assert "Secret" not in caplog.text
    # Every update was confirmed: the next getUpdates asked for what comes after them.
    offsets = [c.params.get("offset") for c in telegram.calls if c.method == "getUpdates"]
    assert offsets[-1] is not None and int(offsets[-1]) > poison["update_id"] + 1


async def test_updates_stored_before_a_crash_are_handled_at_start_once(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    # A crash after the updates were stored and confirmed, before they were handled.
    updates = [telegram.text(user, "/start") for user in (11, 12, 11)]
    updates[2] = telegram.text(11, "/help")
    inbox = Inbox(runtime, CHANNEL)
    new = await inbox.store([(u["update_id"], raw_user_key(u), u) for u in updates])
    assert new == {u["update_id"] for u in updates}
    assert await inbox.store([(u["update_id"], raw_user_key(u), u) for u in updates]) == set()
    async with polling(runtime, telegram):
        await until(lambda: len(answered(telegram, 11)) >= 2 and bool(answered(telegram, 12)))
    first, second = answered(telegram, 11)[:2]
    assert "Kies je taal." in first and "Kies je taal." not in second  # in order
    assert await rows(runtime, InboxUpdate) == []
    assert len(await rows(runtime, ProcessedUpdate)) == 3
    # Delivered again (Telegram, a second worker): stored and handled never twice.
    assert await inbox.store([(u["update_id"], raw_user_key(u), u) for u in updates]) == set()


async def test_a_failure_is_tried_again_then_set_aside_with_one_kind_word(
    runtime: Runtime,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    dispatch = type(runtime.engine).dispatch

    async def flaky(self: Any, ctx: Any, event: Any) -> None:
        calls.append(ctx.user.external_id)  # (PostgreSQL gives a retried new user a new id)
        if event.text == "/help" or event.command == "help":
            if calls.count(ctx.user.external_id) == 1:  # a busy database, once
                raise OperationalError("BEGIN", {}, Exception("database is locked"))
            return await dispatch(self, ctx, event)
        raise KeyError("part")

    async with polling(runtime, telegram):
        telegram.queue(telegram.text(21, "/start"))
        await until(lambda: bool(answered(telegram, 21)))
        monkeypatch.setattr(type(runtime.engine), "dispatch", flaky)
        telegram.queue(telegram.text(21, "hello"))
        telegram.queue(telegram.text(22, "/help"))
        await until(lambda: len(answered(telegram, 21)) == 2 and bool(answered(telegram, 22)))
        await asyncio.sleep(0.1)
    assert "Wat je bewaard hebt, is veilig." in answered(telegram, 21)[1]  # "Sorry, ..."
    assert len(answered(telegram, 21)) == 2  # told once, after the last try
    assert "/goal" in answered(telegram, 22)[0]  # the busy database was tried again
    aside = await rows(runtime, InboxUpdate)
    assert [(u.attempts, u.error) for u in aside] == [(3, "KeyError")]
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.inbox"]
    assert sum("set aside" in line for line in logged) == 1
    assert any("flow step" in line and "KeyError at" in line for line in logged)
    assert "hello" not in caplog.text


async def test_one_users_updates_in_order_others_at_the_same_time(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = runtime.engine.handle
    seen: list[tuple[str, str]] = []
    running = {"now": 0, "most": 0}

    async def slow(**kwargs: Any) -> Any:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        seen.append((kwargs["external_id"], kwargs["event"].text))
        await asyncio.sleep(random.uniform(0, 0.05))
        try:
            return await handle(**kwargs)
        finally:
            running["now"] -= 1

    monkeypatch.setattr(runtime.engine, "handle", slow)
    users = range(31, 37)
    for number in range(4):
        for user in users:
            telegram.queue(telegram.text(user, f"message {number}"))
    async with polling(runtime, telegram):
        await until(lambda: all(len(answered(telegram, u)) >= 4 for u in users))
    for user in users:
        texts = [text for who, text in seen if who == str(user)]
        assert texts == [f"message {n}" for n in range(4)]
    assert running["most"] > 1


async def test_a_slow_download_does_not_hold_up_another_learner(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with polling(runtime, telegram) as harness:
        await onboard(harness, 41)
        await harness.say(41, "/evidence")
        telegram.download_gate = asyncio.Event()
        telegram.queue(telegram.message(41, **media(telegram, "photo", PNG)))
        await until(lambda: any(c.method == "getFile" for c in telegram.calls))
        before = len(answered(telegram, 41))
        telegram.queue(telegram.text(42, "/help"))
        await until(lambda: bool(answered(telegram, 42)))
        assert len(answered(telegram, 41)) == before  # still downloading
        telegram.download_gate.set()
        await until(lambda: len(answered(telegram, 41)) > before)
    assert answered(telegram, 41)[-1] == "What is it?"
    assert len(await rows(runtime, Upload)) == 1


async def test_a_failed_download_asks_again_and_stores_nothing(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with polling(runtime, telegram) as harness:
        await onboard(harness, 51)
        await harness.say(51, "/evidence")
        async with runtime.sessionmaker() as session:
            step = await session.scalar(select(Conversation.step))
        telegram.download_failures = [500, 404]
        telegram.queue(telegram.message(51, **media(telegram, "photo", PNG)))
        await until(lambda: "could not fetch" in answered(telegram, 51)[-1])
        async with runtime.sessionmaker() as session:
            assert await session.scalar(select(Conversation.step)) == step
            assert await session.scalar(select(func.count()).select_from(Upload)) == 0
        # Sent again, it is kept.
        telegram.queue(telegram.message(51, **media(telegram, "photo", PNG)))
        await until(lambda: answered(telegram, 51)[-1] == "What is it?")
    assert answered(telegram, 51)[-2] == "I could not fetch that file. Please send it again."


async def test_blocking_the_bot_marks_the_learner_unreachable_at_once(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    def member(user: int, status: str) -> dict[str, Any]:
        person = {"id": user, "is_bot": False, "first_name": "Fatma"}
        return telegram.update(
            my_chat_member={
                "chat": {"id": user, "type": "private"},
                "from": person,
                "date": 1_700_000_000,
                "old_chat_member": {"status": "member", "user": person},
                "new_chat_member": {"status": status, "user": person, "until_date": 0},
            }
        )

    async def status() -> str:
        return (await rows(runtime, User))[0].status

    async def becomes(wanted: str) -> str:
        for _ in range(200):
            if (now := await status()) == wanted:
                return now
            await asyncio.sleep(0.02)
        return await status()

    async with polling(runtime, telegram) as harness:
        await onboard(harness, 61)
        telegram.queue(member(61, "kicked"))
        assert await becomes("unreachable") == "unreachable"
        telegram.queue(member(61, "member"))
        assert await becomes("active") == "active"
    assert await rows(runtime, InboxUpdate) == []


async def handled_not_sent(runtime: Runtime, telegram: FakeTelegram, user: int) -> Any:
    """A crash right after the transaction that handled /start committed, before the reply
    went: the flows handle it (the reply is kept with the update) and nothing is sent."""
    start = telegram.text(user, "/start")
    await runtime.engine.handle(
        channel=CHANNEL,
        external_id=str(user),
        chat_id=str(user),
        event=Event(kind="command", command="start", text="/start"),
        update_id=start["update_id"],
    )
    return start


async def test_replies_kept_over_a_crash_after_the_commit_go_at_start(
    runtime: Runtime, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await handled_not_sent(runtime, telegram, 21)
    [kept] = await rows(runtime, ProcessedUpdate)
    assert kept.replies is not None and kept.replies["chat"] == "21"
    assert answered(telegram, 21) == []
    async with polling(runtime, telegram):
        await until(lambda: bool(answered(telegram, 21)))
        telegram.queue(telegram.text(22, "/start"))  # handled and sent as usual
        await until(lambda: bool(answered(telegram, 22)))
    [language_question] = answered(telegram, 21)
    assert "Kies je taal." in language_question
    buttons = next(c for c in telegram.sent() if int(c.params["chat_id"]) == 21).buttons
    assert any(b["text"] == "Nederlands" for b in buttons)  # with its buttons
    # Sent: the copies are cleared (at the stop for the last ones), none goes twice.
    assert [u.replies for u in await rows(runtime, ProcessedUpdate)] == [None, None]
    assert await kept_replies(runtime) == 0  # SQL's NULL (JSON's null would stay indexed)
    async with polling(runtime, telegram):
        pass
    assert len(answered(telegram, 21)) == 1
    assert "sent the replies of 1 updates handled before the restart" in caplog.text
    assert "Kies" not in caplog.text  # no learner-facing words in the log


@pytest.mark.skipif(not POSTGRES_URL, reason="only PostgreSQL is shared by several workers")
async def test_a_starting_worker_leaves_fresh_kept_replies_to_the_worker_sending_them(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers on one PostgreSQL: one starts while the other has just handled two
    updates. The replies of one are on their way from that other worker (it clears their
    copy); the other's worker died. The starting worker sends neither at once, and after
    the grace only the second: no learner gets a reply twice, none is left without one."""
    monkeypatch.setattr(bot.inbox, "RESEND_GRACE", timedelta(seconds=1))
    on_its_way = await handled_not_sent(runtime, telegram, 31)
    await handled_not_sent(runtime, telegram, 32)
    async with polling(runtime, telegram):
        assert answered(telegram, 31) == [] == answered(telegram, 32)
        async with runtime.uow() as uow:  # the other worker sent 31's replies
            await uow.updates.replies_sent([on_its_way["update_id"]])
            await uow.commit()
        clock.advance(seconds=2)
        await until(lambda: bool(answered(telegram, 32)))
        await asyncio.sleep(0.2)
    assert answered(telegram, 31) == []
    assert len(answered(telegram, 32)) == 1
    assert await kept_replies(runtime) == 0


async def test_replies_kept_long_ago_are_dropped_not_sent(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    start = await handled_not_sent(runtime, telegram, 23)
    async with runtime.sessionmaker() as session:
        row = await session.get(ProcessedUpdate, start["update_id"])
        assert row is not None
        row.processed_at -= bot.inbox.RESEND_WITHIN + timedelta(minutes=1)
        await session.commit()
    async with polling(runtime, telegram):
        pass
    assert answered(telegram, 23) == []
    assert await kept_replies(runtime) == 0
