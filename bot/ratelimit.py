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

Only one process sends scheduled messages (see `bot.scheduler.Lease`), so the overall budget
of the dispatcher's process is the budget of the bot for them; the replies of other worker
processes are paced by their own budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
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

    @classmethod
    def lifted(cls) -> Limits:
        """No waiting at all (tests and cost benchmarks on a fake Bot API)."""
        return cls(overall=1e9, private=(0.0, 1), group=(0.0, 1))


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
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0  # the earliest moment of the next request overall
        self._chats: dict[int | str, deque[float]] = {}
        self._held: dict[int | str, float] = {}  # chats held until then (a rate-limit answer)
        self._replies_waiting = 0
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

    async def acquire(self, chat: int | str | None, *, scheduled: bool) -> None:
        """Waits until a request to `chat` (None: not to a chat) may go, and counts it."""
        waiting_as_reply = False
        try:
            while True:
                now = self.clock()
                if chat is not None:
                    wait = self.chat_wait(chat, now, scheduled=scheduled)
                    if wait > 0:
                        await self.sleep(wait)
                        continue
                if not scheduled and not waiting_as_reply:
                    waiting_as_reply = True
                    self._replies_waiting += 1
                wait = self._next - now
                if scheduled and self._replies_waiting:
                    wait = max(wait, 1 / self.limits.overall)
                if wait > 0:
                    await self.sleep(wait)
                    continue
                self._take(chat, now)
                return
        finally:
            if waiting_as_reply:
                self._replies_waiting -= 1

    def _take(self, chat: int | str | None, now: float) -> None:
        self._next = max(self._next, now) + 1 / self.limits.overall
        if chat is not None:
            self._chats.setdefault(chat, deque()).append(now)
        self._taken += 1
        if self._taken % 1000 == 0:  # forget the chats that have been quiet for a while
            horizon = now - max(i * b for i, b in (self.limits.private, self.limits.group))
            for key in [k for k, sent in self._chats.items() if not sent or sent[-1] < horizon]:
                del self._chats[key]

    def hold(self, seconds: float, *, chat: int | str | None = None) -> None:
        """Nothing goes for `seconds` (Telegram answered 429 with `retry_after`, WhatsApp
        130429); with `chat`, nothing goes to that chat (WhatsApp's pair rate, 131056)."""
        until = self.clock() + seconds
        if chat is None:
            self._next = max(self._next, until)
        else:
            self._held[chat] = max(self._held.get(chat, 0.0), until)
