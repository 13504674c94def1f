"""Dispatcher: due outbox messages sent through the real rate-limited bot to the fake Bot API.

The rate is taken from the timestamps at the fake transport, from the end of the limiter's
first burst to the last send, as a fraction of the configured limit; duplicates are counted
there too (each learner gets one message, so a second message to a chat is a duplicate). The
ceiling, with sending stubbed out, comes from bench/nudges.py.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from telegram.ext import ApplicationBuilder

from bench.common import Figure
from bench.nudges import NOW, _database
from bot.scheduler import Dispatcher, OutboxRateLimiter, TelegramSender
from flows import nudges
from flows.i18n import Translator
from storage.models import Preferences
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


async def run(*, messages: int, limit: float) -> list[Figure]:
    """Sends `messages` due messages (half nudges, half notices) at `limit` per second."""
    with tempfile.TemporaryDirectory() as folder:
        uow = await _database(Path(folder), messages)
        factory = lambda: SqlUnitOfWork(uow._sessionmaker)  # noqa: E731
        policy = nudges.NudgePolicy()
        async with factory() as unit:
            rows = [
                nudges.planned_message(
                    kind=nudges.CHECKIN,
                    user_id=n,
                    key=f"bench:{n}",
                    due=NOW - timedelta(minutes=1),
                    now=NOW,
                    policy=policy,
                    meta={"week": "2026-W12"},
                )
                if n % 2
                else Planned(
                    user_id=n,
                    kind="notice",
                    dedup_key=f"bench:{n}",
                    due_at=NOW - timedelta(minutes=1),
                    payload=payload("Welcome back! Your messages start again."),
                    created_at=NOW,
                )
                for n in range(1, messages + 1)
            ]
            await unit.scheduler.insert_planned(rows)
            # Every recipient is free to receive (no days off, no pauses): the benchmark
            # measures sending, not the policy that holds messages back.
            await unit.session.execute(delete(Preferences))
            await unit.commit()
        telegram = TimedTelegram()
        limiter = OutboxRateLimiter(overall_max_rate=limit, overall_time_period=1, max_retries=0)
        app = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(API_URL)
            .request(fake_request(telegram))
            .get_updates_request(fake_request(telegram))
            .rate_limiter(limiter)
            .build()
        )
        async with app:
            dispatcher = Dispatcher(
                uow_factory=factory,
                sender=TelegramSender(app.bot),
                clock=lambda: NOW + timedelta(hours=6),  # 13:00 in Brussels
                translator=lambda language: Translator(language),
                policy=policy,
            )
            # Bounded: every round claims up to a batch, so `rounds` is enough to send them
            # all; a round that decides to send nothing ends the loop (run_once's counts may
            # hold zero entries such as "held", so they are not a test for an empty round).
            rounds = messages // dispatcher.batch + 10
            deadline = time.perf_counter() + 10 * messages / limit + 30
            for _ in range(rounds):
                result = await dispatcher.run_once()
                if not result["send"] or time.perf_counter() > deadline:
                    break
        await uow._sessionmaker.kw["bind"].dispose()
    times = [at for at, _ in telegram.arrivals]
    # The limiter is a leaky bucket that lets a first burst of `limit` messages through at
    # once; the sustained rate is measured after that burst, from its end to the last send.
    burst = int(limit)
    steady = times[burst - 1 :] if len(times) > burst + 1 else times
    span = steady[-1] - steady[0] if len(steady) > 1 else 0.0
    rate = (len(steady) - 1) / span if span else 0.0
    duplicates = sum(n - 1 for n in Counter(c for _, c in telegram.arrivals).values() if n > 1)
    name = "dispatcher"
    return [
        Figure(name, f"messages sent of {messages:,}", len(times), "", messages, "higher"),
        Figure(name, f"sustained rate at a {limit:g}/s limit", rate, "/s", better="none"),
        Figure(name, "sustained rate / limit", rate / limit, "", 0.95, "higher"),
        Figure(name, "duplicates", duplicates, "", 0, "lower"),
    ]
