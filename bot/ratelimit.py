"""Sending within a channel's limits: an overall rate, a rate per person and a rate per group;
replies to a learner before scheduled messages. One `SendBudget` per channel and process.

- Telegram (`TELEGRAM`, Bot FAQ "My bot is hitting limits"): 30 messages a second overall,
  about one a second to a private chat, 20 a minute to a group.
- WhatsApp (`WHATSAPP`, Cloud API "Throughput" and "Pair rate limits"): 80 messages a second
  from a business number (the default throughput), and one message every 6 seconds to the
  same person on average. Meta lets a burst through and blocks after it (error 131056), so
  replies may burst (a conversation's few messages) while keeping that average, and
  scheduled messages never come closer than 6 seconds after the last one to that person.
  Every WhatsApp recipient is a person (Opstap talks to no WhatsApp groups).

`SendBudget` is the pacing itself, plain asyncio with an injectable clock, so that it can be
tested without a channel; it imports no channel library. Telegram puts it in front of every
Bot API request (`bot.telegram.OutboxRateLimiter`), WhatsApp in front of every message it
posts (`bot.whatsapp.GraphApi`). A send made inside `bulk()` (the outbox dispatcher's) is
scheduled: it waits while a reply is waiting for the overall budget, it never bursts into a
chat (one interval apart, also after a reply), and a rate-limit answer is not retried here
(the outbox reschedules it). Replies may burst a little into one chat (a step's two or three
messages) but keep the same average. After a channel's rate-limit answer, `hold` stops the
whole channel or one recipient for a while.

The overall budget keeps an ideal schedule, one request every 1/30 s: a wake-up that comes
late (a busy event loop, the gap between two dispatcher rounds) is made up by the next
requests, as long as the schedule is at most `Limits.catch_up` seconds behind (further
behind, it starts again from now), so the rate reached is the rate configured. A hard cap
on top never lets more than 30 requests count at once: a request made through `request`
counts from the moment it may go until a second after its answer came. Telegram counts it
somewhere in between (a busy event loop or a slow network may hold it back after it was
let go, and bunch it with later ones), so no second there holds more than 30 either,
whatever the schedule and the network do; a slow answer lowers the rate a little
instead. Both keep a margin of `Limits.guard` (20 ms a second): 29.4 a second sustained.
Scheduled requests wait for the overall budget one at a time, so a released slot is used at
once instead of by the first of thirty woken waiters.

Only one process sends scheduled messages (see `bot.scheduler.Lease`). On PostgreSQL several
worker processes may reply, so each budget also takes every request's slot from the bot's
one schedule in the database (`shared`, a `bot.scheduler.SharedSchedule`): all processes
together keep to the overall rate. SQLite runs one process and needs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

#: Telegram's limits (Bot FAQ, "My bot is hitting limits").
OVERALL_PER_SECOND = 30.0
PRIVATE = (1.0, 3)  # seconds between messages to a chat on average, and the burst allowed
GROUP = (3.0, 20)  # 20 a minute
#: WhatsApp's limits: the Cloud API's default throughput, and its pair rate (one message to
#: a person every 6 seconds, with bursts of up to 45 that borrow from the time after).
WHATSAPP_PER_SECOND = 80.0
PAIR = (6.0, 45)

#: How often a request that woke up late for its shared slot takes a new one.
SHARED_TRIES = 3

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
    """A channel's rates: overall per second; per person and per group, the seconds between
    two messages on average and the burst of replies allowed. Telegram's by default."""

    overall: float = OVERALL_PER_SECOND
    private: tuple[float, int] = PRIVATE
    group: tuple[float, int] = GROUP
    #: Whether some chats are groups: Telegram's negative chat ids (and @channel names).
    groups: bool = True
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

    @property
    def shared_interval(self) -> float:
        """The time between two slots of the schedule shared by processes: 10% more than
        `interval` (27 a second for Telegram), for the requests a busy process lets go a
        little late, bunched with the next ones of another process. With 5% (28 a second)
        two webhook workers were still seen at 31 in one second."""
        return self.interval * 1.1


TELEGRAM = Limits()
WHATSAPP = Limits(overall=WHATSAPP_PER_SECOND, private=PAIR, group=PAIR, groups=False)


class SendBudget:
    """Decides when the next request may go; `acquire` waits for that moment and takes it."""

    def __init__(
        self,
        limits: Limits = Limits(),
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        shared: Callable[[float], Coroutine[Any, Any, float]] | None = None,
    ) -> None:
        self.limits = limits
        #: The bot's schedule shared with other processes: takes a slot (at least the given
        #: seconds from now), returns the wait.
        self.shared = shared
        self._holding: set[asyncio.Task[float]] = set()  # holds on their way to `shared`
        self.clock = clock
        self.sleep = sleep
        self._next = -math.inf  # the ideal moment of the next request overall
        self._cap = limits.per_second
        #: The requests that count against the cap: when each one ended (inf while it is
        #: still on its way), for those in flight or ended less than a window ago.
        self._recent: list[list[float]] = []
        self._chats: dict[int | str, deque[float]] = {}
        self._held: dict[int | str, float] = {}  # chats held until then (a rate-limit answer)
        self._replies_waiting = 0
        self._queue = asyncio.Lock()
        self._taken = 0

    def _chat_limits(self, chat: int | str) -> tuple[float, int]:
        group = self.limits.groups and (isinstance(chat, str) or chat < 0)
        return self.limits.group if group else self.limits.private

    def chat_wait(self, chat: int | str, now: float, *, scheduled: bool) -> float:
        """Seconds until `chat` may get a message: on average one per interval, replies in
        bursts of at most `burst` within `burst` intervals, scheduled ones never closer than
        one interval after the chat's last message."""
        held = self._held.get(chat, 0.0) - now
        if held <= 0 and chat in self._held:
            del self._held[chat]
        sent = self._chats.get(chat)
        if not sent:
            return max(held, 0.0)
        interval, burst = self._chat_limits(chat)
        window = interval * burst
        while sent and sent[0] <= now - window:
            sent.popleft()
        waits = [0.0, held]
        if len(sent) >= burst:
            waits.append(sent[-burst] + window - now)
        if scheduled and sent:
            waits.append(sent[-1] + interval - now)
        return max(waits)

    @contextlib.asynccontextmanager
    async def request(self, chat: int | str | None, *, scheduled: bool) -> AsyncIterator[None]:
        """Waits for the budget, and counts the request made inside against the cap until
        a window after it ended: the moment it reached the other side lies somewhere
        between the two, so no window there can hold more than the cap either."""
        ended = await self._acquire(chat, scheduled=scheduled)
        try:
            yield
        finally:
            ended[0] = self.clock()

    async def acquire(self, chat: int | str | None, *, scheduled: bool) -> None:
        """Waits until a request to `chat` (None: not to a chat) may go, and counts it as
        made at once (`request` counts it until it ended)."""
        ended = await self._acquire(chat, scheduled=scheduled)
        ended[0] = self.clock()

    async def _acquire(self, chat: int | str | None, *, scheduled: bool) -> list[float]:
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
                    if (ended := await self._overall(chat, scheduled=False)) is not None:
                        return await self._shared_slot(ended)
                    continue
                # Scheduled requests wait for the overall budget one at a time, in order:
                # thirty waiters woken for every slot would only delay the one that won it.
                async with self._queue:
                    if (ended := await self._overall(chat, scheduled=True)) is not None:
                        return await self._shared_slot(ended)
        finally:
            if waiting_as_reply:
                self._replies_waiting -= 1

    async def _overall(self, chat: int | str | None, *, scheduled: bool) -> list[float] | None:
        """Waits for the overall budget and takes it; returns the request's end time to
        fill in, or None when `chat` must wait first."""
        while True:
            now = self.clock()
            if chat is not None and self.chat_wait(chat, now, scheduled=scheduled) > 0:
                return None
            wait = max(self._next - now, self._cap_wait(now))
            if scheduled and self._replies_waiting:
                wait = max(wait, self.limits.interval)
            if wait <= 0:
                return self._take(chat, now)
            await self.sleep(wait)

    async def _shared_slot(self, ended: list[float]) -> list[float]:
        """Waits for this request's slot in the schedule shared with other processes, if
        any; a request given up while it waits no longer counts against the cap."""
        if self.shared is None:
            return ended
        try:
            for _ in range(SHARED_TRIES):
                slot = self.clock() + await self.shared(0.0)
                if slot > self.clock():
                    await self.sleep(slot - self.clock())
                # Woken well after the slot (a busy event loop): going now would bunch with
                # the other processes' next requests, so this one takes a later slot.
                if self.clock() - slot <= self.limits.interval:
                    break
        except BaseException:
            ended[0] = self.clock()
            raise
        return ended

    def _cap_wait(self, now: float) -> float:
        """Seconds until one more request keeps every window within the cap: until one of
        the requests counted ended a window ago (a slot of the schedule, while they are
        all still on their way)."""
        if self._cap is None:
            return 0.0
        window = self.limits.window
        self._recent = recent = [r for r in self._recent if r[0] + window > now]
        if len(recent) < self._cap:
            return 0.0
        first = min(r[0] for r in recent)
        return first + window - now if first < math.inf else self.limits.interval

    def _take(self, chat: int | str | None, now: float) -> list[float]:
        # The next slot follows this one on the ideal schedule, not on `now`: a late
        # wake-up does not push every later request back. A schedule more than `catch_up`
        # behind (the budget was idle, or the process stalled) starts again from now, so
        # an idle budget never releases a flood.
        if now - self._next > self.limits.catch_up:
            self._next = now
        self._next += self.limits.interval
        ended = [math.inf]
        if self._cap is not None:
            self._recent.append(ended)
        if chat is not None:
            self._chats.setdefault(chat, deque()).append(now)
        self._taken += 1
        if self._taken % 1000 == 0:  # forget the chats that have been quiet for a while
            horizon = now - max(i * b for i, b in (self.limits.private, self.limits.group))
            for key in [k for k, sent in self._chats.items() if not sent or sent[-1] < horizon]:
                del self._chats[key]
        return ended

    def hold(self, seconds: float, *, chat: int | str | None = None) -> None:
        """Nothing goes for `seconds` (Telegram answered 429 with `retry_after`, WhatsApp
        130429); with `chat`, nothing goes to that chat (WhatsApp's pair rate, 131056)."""
        until = self.clock() + seconds
        if chat is None:
            self._next = max(self._next, until)
            if self.shared is not None:
                # The other processes hold too: the platform counts the bot, not a worker.
                task = asyncio.get_running_loop().create_task(self.shared(seconds))
                self._holding.add(task)
                task.add_done_callback(self._holding.discard)
        else:
            self._held[chat] = max(self._held.get(chat, 0.0), until)
