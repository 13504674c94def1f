"""Dispatcher as deployed: due outbox messages sent by the dispatcher job's rounds through the
real rate limiter (Telegram's 30 a second, one a second per private chat) to the fake Bot API.

The learners keep their preferences (days off, pauses, quiet hours), a third of the chats
have two messages due, and Telegram answers 429 three times. Rates and per-chat peaks come
from the arrival times at the fake transport; a duplicate is a message that arrived more
often than the outbox recorded it as sent. The ceiling, with sending stubbed out, comes from
bench/nudges.py.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from telegram.ext import ApplicationBuilder

from bench.common import Figure
from bench.nudges import NOW, _database
from bot.ratelimit import OVERALL_PER_SECOND, Limits
from bot.scheduler import Dispatcher
from bot.telegram import OutboxRateLimiter, TelegramSender
from flows import nudges
from flows.i18n import Translator
from storage.models import OutboxMessage, User
from storage.repositories import Planned, payload
from storage.uow import SqlUnitOfWork
from tests.fake_telegram import API_URL, TOKEN, FakeTelegram, fake_request


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each message arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, int]] = []

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage":
            self.arrivals.append((time.perf_counter(), int(params["chat_id"])))
        return await super()._answer(method, params)


async def run(*, messages: int) -> list[Figure]:
    """Sends `messages` due messages (half nudges, half notices; a third of the chats get
    two) as deployed: the job's rounds, Telegram's limits (30/s, one a second per chat),
    real preferences (days off, pauses), and a few 429 answers on the way."""
    chats = max(2, messages * 2 // 3)
    with tempfile.TemporaryDirectory() as folder:
        uow = await _database(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", chats)
        factory = lambda: SqlUnitOfWork(uow._sessionmaker)  # noqa: E731
        policy = nudges.NudgePolicy()
        async with factory() as unit:
            rows = [
                nudges.planned_message(
                    kind=nudges.CHECKIN,
                    user_id=1 + n % chats,
                    key=f"bench:{n}",
                    due=NOW - timedelta(minutes=1),
                    now=NOW,
                    policy=policy,
                    meta={"week": "2026-W12"},
                )
                if n % 2
                else Planned(
                    user_id=1 + n % chats,
                    kind="notice",
                    scheduled=False,  # a notice a flow wrote, not planned
                    dedup_key=f"bench:{n}",
                    due_at=NOW - timedelta(minutes=1),
                    payload=payload("Welcome back! Your messages start again."),
                    created_at=NOW,
                )
                for n in range(messages)
            ]
            await unit.scheduler.insert_planned(rows)
            await unit.commit()
        telegram = TimedTelegram()
        for _ in range(3):  # Telegram says "slow down" three times: rescheduled, not lost
            telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        app = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(API_URL)
            .request(fake_request(telegram))
            .get_updates_request(fake_request(telegram))
            .rate_limiter(OutboxRateLimiter(limits=Limits()))  # Telegram's limits
            .build()
        )
        clock_start = time.perf_counter()

        def clock() -> datetime:  # 13:00 in Brussels (not quiet), moving with real time
            return NOW + timedelta(hours=6, seconds=time.perf_counter() - clock_start)

        async with app:
            dispatcher = Dispatcher(
                uow_factory=factory,
                sender=TelegramSender(app.bot),
                clock=clock,
                translator=lambda language: Translator(language),
                policy=policy,
                reader=lambda: SqlUnitOfWork(uow._sessionmaker, read_only=True),
            )
            # The job as the job queue runs it: a look every second, rounds back to back
            # while there is work; it ends when a look finds nothing due for 3 seconds.
            deadline = time.perf_counter() + 3 * messages / OVERALL_PER_SECOND + 60
            idle = 0
            while idle < 3 and time.perf_counter() < deadline:
                result = await dispatcher.run()
                idle = 0 if result.counts else idle + 1
                if not result.counts or not result["send"]:
                    await asyncio.sleep(1.0)
        async with factory() as unit:
            statuses = Counter(
                (await unit.session.execute(select(OutboxMessage.status))).scalars()
            )
            sent_to = Counter(
                (
                    await unit.session.execute(
                        select(User.chat_id)
                        .join(OutboxMessage, OutboxMessage.user_id == User.id)
                        .where(OutboxMessage.status == "sent")
                    )
                ).scalars()
            )
        await uow._sessionmaker.kw["bind"].dispose()
    times = sorted(at for at, _ in telegram.arrivals)
    # Steady rate: from the first to the last message, over the rows the policy let go.
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    arrived = Counter(str(chat) for _, chat in telegram.arrivals)
    # A duplicate: a chat got more messages than it has rows recorded as sent (the 429
    # answers are given before a message counts as arrived).
    duplicates = sum(max(0, n - sent_to.get(chat, 0)) for chat, n in arrived.items())
    per_chat = max((most_in(chat_times(telegram, chat), 1.0) for chat in arrived), default=0)
    name = "dispatcher"
    let_go = statuses["sent"]
    return [
        Figure(name, f"rows of {messages:,}: sent", let_go, "", better="none"),
        Figure(
            name,
            "held back (day off, pause, quiet hours)",
            statuses["pending"] + statuses["cancelled"],
            "",
            better="none",
        ),
        Figure(
            name,
            "unaccounted (claimed, failed, unknown)",
            messages - let_go - statuses["pending"] - statuses["cancelled"],
            "",
            0,
        ),
        Figure(name, "sustained rate, as deployed", rate, "/s", better="none"),
        Figure(name, "sustained rate / 30 per s", rate / OVERALL_PER_SECOND, "", 0.95, "higher"),
        Figure(name, "most messages to one chat in one second", per_chat, "", 1),
        Figure(name, "most messages in one second", most_in(times, 1.0), "", 30),
        Figure(name, "duplicates", duplicates, "", 0, "lower"),
    ]


def chat_times(telegram: TimedTelegram, chat: str) -> list[float]:
    return [at for at, c in telegram.arrivals if str(c) == chat]


def most_in(times: list[float], seconds: float) -> int:
    """The most arrivals in any window of `seconds`."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - seconds:
            first += 1
        best = max(best, last - first + 1)
    return best
