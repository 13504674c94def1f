"""Sending within Telegram's limits: 30 messages a second overall, about one a second to a
private chat, 20 a minute to a group; replies to a learner before scheduled messages.

`SendBudget` is the pacing itself, plain asyncio with an injectable clock, so that it can be
tested without Telegram. `OutboxRateLimiter` puts it in front of every Bot API request of the
process. A send made inside `bulk()` (the outbox dispatcher's) is scheduled: it waits while a
reply is waiting for the overall budget, it never bursts into a chat (one a second, also
after a reply), and a 429 is not retried here (the outbox reschedules it). Replies may burst
a little into one chat (a step's two or three messages) but keep the same average.

The overall budget keeps an ideal schedule, one request every 1/30 s: a wake-up that comes
late (a busy event loop, the gap between two dispatcher rounds) is made up by the next
requests, as long as the schedule is at most `Limits.catch_up` seconds behind (further
behind, it starts again from now), so the rate reached is the rate configured. A hard cap
on top counts the requests of the last second: never more than 30 in any one second,
whatever the schedule says. Both keep a margin of `Limits.guard` (20 ms a second) for the
jitter between the moment a request leaves and the moment Telegram counts it: 30 in any
1.02 s, 29.4 a second sustained. Scheduled requests wait for the overall budget one at a
time, so a released slot is used at once instead of by the first of thirty woken waiters.

Only one process sends scheduled messages (see `bot.scheduler.Lease`), so the overall budget
of the dispatcher's process is the budget of the bot for them; the replies of other worker
processes are paced by their own budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

#: Telegram's limits (Bot FAQ, "My bot is hitting limits").
OVERALL_PER_SECOND = 30.0
PRIVATE = (1.0, 3)  # seconds between messages to a chat on average, and the burst allowed
GROUP = (3.0, 20)  # 20 a minute

_BULK: ContextVar[bool] = ContextVar("opstap_bulk_send", default=False)


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Marks the sends inside as scheduled (the outbox's), not replies."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


def is_bulk() -> bool:
    return _BULK.get()


@dataclass(frozen=True)
class Limits:
    overall: float = OVERALL_PER_SECOND
    private: tuple[float, int] = PRIVATE
    group: tuple[float, int] = GROUP
    #: How far the overall schedule may fall behind and still be made up (seconds).
    catch_up: float = 0.5
    #: Seconds added to every second, for the jitter on the way to Telegram.
    guard: float = 0.02

    @classmethod
    def lifted(cls) -> Limits:
        """No waiting at all (tests and cost benchmarks on a fake Bot API)."""
        return cls(overall=1e9, private=(0.0, 1), group=(0.0, 1))

    @property
    def per_second(self) -> int | None:
        """The most requests in any one second (None: no cap, the limits are lifted)."""
        cap = math.floor(self.overall)
        return cap if 0 < cap <= 100_000 else None

    @property
    def window(self) -> float:
        """The span of the hard cap: one second and the guard."""
        return 1.0 + self.guard

    @property
    def interval(self) -> float:
        """The ideal time between two requests."""
        return self.window / self.overall


class SendBudget:
    """Decides when the next request may go; `acquire` waits for that moment and takes it."""

    def __init__(
        self,
        limits: Limits = Limits(),
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._next = -math.inf  # the ideal moment of the next request overall
        cap = limits.per_second
        self._last_second: deque[float] | None = deque(maxlen=cap) if cap else None
        self._chats: dict[int | str, deque[float]] = {}
        self._replies_waiting = 0
        self._queue = asyncio.Lock()
        self._taken = 0

    def _chat_limits(self, chat: int | str) -> tuple[float, int]:
        group = isinstance(chat, str) or chat < 0
        return self.limits.group if group else self.limits.private

    def chat_wait(self, chat: int | str, now: float, *, scheduled: bool) -> float:
        """Seconds until `chat` may get a message: on average one per interval, replies in
        bursts of at most `burst` within `burst` intervals, scheduled ones never closer than
        one interval after the chat's last message."""
        sent = self._chats.get(chat)
        if not sent:
            return 0.0
        interval, burst = self._chat_limits(chat)
        window = interval * burst
        while sent and sent[0] <= now - window:
            sent.popleft()
        waits = [0.0]
        if len(sent) >= burst:
            waits.append(sent[-burst] + window - now)
        if scheduled and sent:
            waits.append(sent[-1] + interval - now)
        return max(waits)

    async def acquire(self, chat: int | str | None, *, scheduled: bool) -> None:
        """Waits until a request to `chat` (None: not to a chat) may go, and counts it."""
        waiting_as_reply = False
        try:
            while True:
                if chat is not None:
                    wait = self.chat_wait(chat, self.clock(), scheduled=scheduled)
                    if wait > 0:
                        await self.sleep(wait)
                        continue
                if not scheduled:
                    if not waiting_as_reply:
                        waiting_as_reply = True
                        self._replies_waiting += 1
                    if await self._overall(chat, scheduled=False):
                        return
                    continue
                # Scheduled requests wait for the overall budget one at a time, in order:
                # thirty waiters woken for every slot would only delay the one that won it.
                async with self._queue:
                    if await self._overall(chat, scheduled=True):
                        return
        finally:
            if waiting_as_reply:
                self._replies_waiting -= 1

    async def _overall(self, chat: int | str | None, *, scheduled: bool) -> bool:
        """Waits for the overall budget and takes it; False when `chat` must wait first."""
        while True:
            now = self.clock()
            if chat is not None and self.chat_wait(chat, now, scheduled=scheduled) > 0:
                return False
            wait = max(self._next - now, self._cap_wait(now))
            if scheduled and self._replies_waiting:
                wait = max(wait, self.limits.interval)
            if wait <= 0:
                self._take(chat, now)
                return True
            await self.sleep(wait)

    def _cap_wait(self, now: float) -> float:
        """Seconds until one more request keeps the last second within the cap."""
        recent = self._last_second
        if recent is None or len(recent) < (recent.maxlen or 0):
            return 0.0
        return recent[0] + self.limits.window - now

    def _take(self, chat: int | str | None, now: float) -> None:
        # The next slot follows this one on the ideal schedule, not on `now`: a late
        # wake-up does not push every later request back. A schedule more than `catch_up`
        # behind (the budget was idle, or the process stalled) starts again from now, so
        # an idle budget never releases a flood.
        if now - self._next > self.limits.catch_up:
            self._next = now
        self._next += self.limits.interval
        if self._last_second is not None:
            self._last_second.append(now)
        if chat is not None:
            self._chats.setdefault(chat, deque()).append(now)
        self._taken += 1
        if self._taken % 1000 == 0:  # forget the chats that have been quiet for a while
            horizon = now - max(i * b for i, b in (self.limits.private, self.limits.group))
            for key in [k for k, sent in self._chats.items() if not sent or sent[-1] < horizon]:
                del self._chats[key]

    def hold(self, seconds: float) -> None:
        """Nothing goes for `seconds` (Telegram answered 429 with `retry_after`)."""
        self._next = max(self._next, self.clock() + seconds)


#: Requests that put a message into a chat (the per-chat limits count these).
_MESSAGE_ENDPOINTS = ("send", "copyMessage", "forwardMessage")


class OutboxRateLimiter(BaseRateLimiter[int]):
    """python-telegram-bot's rate limiter for Opstap: a `SendBudget` in front of every
    request; replies retry a 429 up to `max_retries` times, scheduled sends never."""

    def __init__(self, *, max_retries: int = 2, limits: Limits = Limits()) -> None:
        self.max_retries = max_retries
        self.budget = SendBudget(limits)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Waits for the budget, sends, and honours `retry_after`."""
        scheduled = is_bulk()
        chat: int | str | None = data.get("chat_id")
        if isinstance(chat, str):
            with contextlib.suppress(ValueError):
                chat = int(chat)
        if not endpoint.startswith(_MESSAGE_ENDPOINTS):
            chat = None
        retries = 0 if scheduled else (rate_limit_args or self.max_retries)
        for attempt in range(retries + 1):
            await self.budget.acquire(chat, scheduled=scheduled)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.budget.hold(error._retry_after.total_seconds())
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
