"""Two workers (two Applications, two database engines) on one database and one fake Bot API,
fed the same updates at the same time: no update is handled twice, none is lost, and one
user's updates run one after the other (advisory lock on PostgreSQL, BEGIN IMMEDIATE on
SQLite)."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import ClassVar

from sqlalchemy import func, select

from bot.runtime import Runtime
from flows.engine import Context, Flow
from flows.messages import Event
from storage.models import Conversation, ProcessedUpdate, User
from tests.fake_telegram import BotHarness, FakeTelegram, running_bot


class Collect(Flow):
    """Keeps every text it gets in the conversation data (a read-modify-write per update)."""

    name = "collect"
    commands: ClassVar = {"collect": "collect"}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        await ctx.begin(self, "more", data={"seen": []})

    async def ask_more(self, ctx: Context) -> None:
        ctx.say(f"{len(ctx.data['seen'])} so far")

    async def on_more(self, ctx: Context, event: Event) -> None:
        ctx.data["seen"].append(event.text)
        await ctx.repeat()


def install(runtime: Runtime) -> None:
    flow = Collect()
    runtime.engine.flows[flow.name] = flow
    runtime.engine.commands["collect"] = flow


@asynccontextmanager
async def two_workers(
    runtime: Runtime, telegram: FakeTelegram
) -> AsyncIterator[tuple[BotHarness, BotHarness]]:
    second = Runtime.create(runtime.settings, clock=runtime.engine.clock)
    install(runtime)
    install(second)
    async with AsyncExitStack() as stack:
        first_bot = await stack.enter_async_context(running_bot(runtime, telegram))
        second_bot = await stack.enter_async_context(running_bot(second, telegram))
        yield first_bot, second_bot


async def feed_both(bots: tuple[BotHarness, BotHarness], updates: list[dict]) -> None:  # type: ignore[type-arg]
    await asyncio.gather(*(bot.feed(update) for update in updates for bot in bots))


async def test_two_workers_handle_each_update_once(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    users = list(range(100, 120))
    updates = [telegram.text(user, "/start") for user in users]
    async with two_workers(runtime, telegram) as bots:
        await feed_both(bots, updates)
    greetings = Tally(
        int(c.params["chat_id"]) for c in telegram.sent() if "Kies je taal." in c.text
    )
    assert greetings == dict.fromkeys(users, 1)
    assert len(telegram.sent()) == 20  # and nothing else: no error, no apology
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 20
        assert await session.scalar(select(func.count()).select_from(User)) == 20


async def test_one_users_updates_are_serialised_across_workers(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with runtime.sessionmaker() as session:
        session.add(
            User(
                channel="telegram",
                external_id="7",
                language="en",
                language_chosen=True,
                consent_version=1,
                display_name="Sam",
                status="active",
            )
        )
        await session.commit()
    async with two_workers(runtime, telegram) as bots:
        await bots[0].feed(telegram.text(7, "/collect"))
        texts = [f"note {n}" for n in range(12)]
        await feed_both(bots, [telegram.text(7, text) for text in texts])
    async with runtime.sessionmaker() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        handled = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
    # Every note exactly once: no update lost to a concurrent read-modify-write.
    assert sorted(conversation.data["seen"]) == sorted(texts)
    assert handled == 13
    replies = [c.text for c in telegram.sent() if c.text.endswith("so far")]
    assert sorted(replies) == sorted(f"{n} so far" for n in range(13))
    assert len(telegram.sent()) == 13
