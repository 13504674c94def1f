"""The send budget: Telegram's overall, private-chat and group limits, replies first."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any

from bot.ratelimit import Limits, SendBudget


class FakeTime:
    """A monotonic clock that moves to the next sleeper's wake-up once every task waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 1e-6), next(self._count), wake))
        await wake

    async def run(self, *jobs: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.create_task(job) for job in jobs]
        while not all(task.done() for task in tasks):
            for _ in range(5):
                await asyncio.sleep(0)
            if self._sleepers:
                at, _, wake = heapq.heappop(self._sleepers)
                self.now = max(self.now, at)
                wake.set_result(None)
        for task in tasks:
            task.result()


def budget(
    limits: Limits | None = None,
) -> tuple[SendBudget, FakeTime, list[tuple[float, object]]]:
    time = FakeTime()
    return SendBudget(limits or Limits(), clock=time.clock, sleep=time.sleep), time, []


async def send(b: SendBudget, t: FakeTime, log: list, chat: object, *, scheduled: bool) -> None:
    await b.acquire(chat, scheduled=scheduled)  # type: ignore[arg-type]
    log.append((t.now, chat))


def most_in(times: list[float], seconds: float) -> int:
    """The most sends in any window of `seconds`."""
    times = sorted(times)
    return max(
        sum(1 for later in times[i:] if later < start + seconds - 1e-9)
        for i, start in enumerate(times)
    )


async def test_a_private_chat_gets_one_scheduled_message_a_second() -> None:
    b, t, log = budget()
    await t.run(*(send(b, t, log, 7, scheduled=True) for _ in range(10)))
    assert len(log) == 10 and most_in([at for at, _ in log], 1.0) == 1


async def test_replies_burst_a_little_but_keep_one_a_second() -> None:
    b, t, log = budget()
    await t.run(*(send(b, t, log, 7, scheduled=False) for _ in range(9)))
    assert len(log) == 9 and most_in([at for at, _ in log], 3.0) <= 3
    assert log[2][0] - log[0][0] < 0.2  # a step's three messages go at once


async def test_a_group_gets_twenty_a_minute() -> None:
    b, t, log = budget()
    await t.run(*(send(b, t, log, -100, scheduled=False) for _ in range(45)))
    assert len(log) == 45 and most_in([at for at, _ in log], 60.0) <= 20


async def test_overall_rate_and_replies_before_scheduled_sends() -> None:
    b, t, log = budget(Limits(overall=30.0))
    bulk = [send(b, t, log, 1000 + n, scheduled=True) for n in range(90)]
    replies = [send(b, t, log, 5000 + n, scheduled=False) for n in range(10)]
    await t.run(*bulk[:60], *replies, *bulk[60:])
    assert len(log) == 100 and most_in([at for at, _ in log], 1.0) <= 30
    assert log[-1][0] < 100 / 30 + 0.5  # and the budget is used: about 30 a second
    order = [chat for _, chat in log]
    last_reply = max(i for i, chat in enumerate(order) if isinstance(chat, int) and chat >= 5000)
    assert last_reply < 15  # the replies did not wait behind 60 scheduled sends
