"""The durable inbox: every update is stored before it is acknowledged, and handled from there.

A channel adapter stores what it receives (`store`) before it confirms it to the channel (the
next `getUpdates` offset, a webhook's 200), then hands each stored update to `run`. `run`
handles one user's updates strictly in the order they came, different users' concurrently,
and retries a failure twice (a busy database, a lost connection) before it sets the update
aside for an operator (`opstap inbox`) and lets the learner know. The transaction that
handles an update also deletes its inbox row (see `SqlUpdateLog.claim`), so after a crash the
rows left are exactly the updates still to handle: `pending` gives them back at start. That
transaction also keeps the update's replies (`Engine.handle`); `deliver` sends them and the
inbox clears the copy (`sent`), so the replies a crash caught between commit and send go at
the next start (`resend`), before the pending updates.

Nothing here logs what an update holds: only its id, the user key, the error type and where
in the code it was raised.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.runtime import Runtime
from flows.messages import Reply
from storage.db import is_sqlite
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

#: How often one update is tried before it is set aside, and the pauses between tries.
ATTEMPTS = 3
PAUSES = (0.5, 2.0)
#: Updates of different users handled at the same time (each holds a database connection).
CONCURRENCY = 16
#: Pauses between tries at sending the replies of an update already handled (see `deliver`).
SEND_PAUSES = (1.0, 4.0, 15.0)
#: The replies of a handled update are kept with it until they went, then cleared (in one
#: transaction for all the updates whose replies went meanwhile): a crash loses none, and may
#: send those of its last moment once more.
#: Replies kept over a crash are sent at the next start when they are at most this old.
RESEND_WITHIN = timedelta(minutes=15)
#: On PostgreSQL, replies kept this recently may still be on their way from another worker
#: (its tries at sending take up to about a minute): a starting worker waits this long for
#: them (see `Inbox.resend`).
RESEND_GRACE = timedelta(minutes=2)
_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Attempt:
    """One try at handling an update; the channel's error handler fills in `error`."""

    update_id: int
    number: int
    error: BaseException | None = None
    #: Set when the flows handled the update: its inbox row went with that transaction.
    handled: bool = False
    #: The inbox the update came from, told when its replies went (`deliver`).
    inbox: Inbox | None = None

    @property
    def last(self) -> bool:
        return self.number >= ATTEMPTS


_CURRENT: ContextVar[Attempt | None] = ContextVar("opstap_inbox_attempt", default=None)


def current() -> Attempt | None:
    """The attempt being made in this task, if the update came through the inbox."""
    return _CURRENT.get()


def record_error(error: BaseException) -> bool:
    """Called by a channel's error handler. True when the learner should be told now: on the
    last attempt, or when the update did not come through the inbox (tests, the terminal)."""
    attempt = _CURRENT.get()
    if attempt is None:
        return True
    attempt.error = error
    return attempt.last


def mark_handled() -> None:
    """Called by a channel adapter once the flows handled (and committed) the update."""
    attempt = _CURRENT.get()
    if attempt is not None:
        attempt.handled = True


async def deliver(
    update_id: int,
    replies: Sequence[Any],
    send: Callable[[Any], Awaitable[object]],
    *,
    transient: Callable[[BaseException], bool],
) -> None:
    """Sends the replies of an update whose transaction committed, one by one, in order.

    Handling the update again would give nothing (it is claimed), so a failure here must not
    go back to the inbox: a `transient` one (the network, the channel's server) is tried
    again from the reply that failed, after SEND_PAUSES; when they run out it is logged, and
    what the learner sent stays stored. Any other error is raised as before.
    """
    try:
        await _send_all(update_id, replies, send, transient=transient)
    finally:
        # Sent, given up or refused: not to be sent again at the next start.
        attempt = _CURRENT.get()
        if attempt is not None and attempt.inbox is not None:
            attempt.inbox.sent(update_id)


async def _send_all(
    update_id: int,
    replies: Sequence[Any],
    send: Callable[[Any], Awaitable[object]],
    *,
    transient: Callable[[BaseException], bool],
) -> None:
    remaining = list(replies)
    failures = 0
    while remaining:
        try:
            await send(remaining[0])
        except Exception as error:
            if not transient(error):
                raise
            failures += 1
            if failures > len(SEND_PAUSES):
                log.warning(
                    "update %d: %d replies failed to send after %d tries: %s",
                    update_id,
                    len(remaining),
                    failures,
                    describe(error),
                )
                return
            log.info(
                "update %d: a reply failed to send (%s), trying again",
                update_id,
                type(error).__name__,
            )
            await asyncio.sleep(SEND_PAUSES[failures - 1])
            continue
        remaining.pop(0)


def where(error: BaseException) -> str:
    """Where an error was raised, as `path:line in function` (no message: it may quote a
    learner). The innermost frame of Opstap's own code, else the innermost frame."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    ours = [f for f in frames if f.filename.startswith(str(_ROOT)) and ".venv" not in f.filename]
    frame = (ours or frames)[-1]
    path = Path(frame.filename)
    shown = path.relative_to(_ROOT) if path.is_relative_to(_ROOT) else path.name
    return f"{shown}:{frame.lineno} in {frame.name}"


def place(error: BaseException) -> str:
    """The flow and step the engine noted on an error (`flow/step`), or empty."""
    for note in getattr(error, "__notes__", ()):
        if isinstance(note, str) and note.startswith("opstap place: "):
            return note.removeprefix("opstap place: ")
    return ""


def describe(error: BaseException) -> str:
    """An error for the log: its type, where, and the flow step; never its message."""
    text = f"{type(error).__name__} at {where(error)}"
    step = place(error)
    return f"{text}, flow step {step}" if step else text


@dataclass
class Inbox:
    """Stores and runs the updates of one channel."""

    runtime: Runtime
    channel: str
    concurrency: int = CONCURRENCY
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _waiting: dict[str, int] = field(default_factory=dict)
    _slots: asyncio.Semaphore = field(init=False)
    #: Updates whose replies went since the last `flush_sent`, and the task that flushes.
    _sent: set[int] = field(default_factory=set)
    _flush: asyncio.Task[None] | None = None
    #: The later look at replies another worker may still have been sending (`resend`).
    _again: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    def sent(self, update_id: int) -> None:
        """The replies of this update went: their kept copy is cleared at once, together
        with those of the updates whose replies go while that transaction runs."""
        self._sent.add(update_id)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            while self._sent:
                await self.flush_sent()
        finally:
            self._flush = None

    async def close(self) -> None:
        """At a stop, before the database closes: clears the kept copies of every reply
        that went, after the clearing under way."""
        if self._again is not None:
            self._again.cancel()
        if self._flush is not None:
            await asyncio.gather(self._flush, return_exceptions=True)
        await self.flush_sent()

    async def flush_sent(self) -> None:
        """Clears the kept replies of the updates whose replies went."""
        done, self._sent = self._sent, set()
        if not done:
            return
        try:
            async with self.runtime.uow() as uow:
                await uow.updates.replies_sent(done)
                await uow.commit()
        except Exception as error:  # sent once more at the next start: better than lost
            log.warning("could not clear %d sent replies: %s", len(done), describe(error))

    async def resend(
        self,
        send: Callable[[str, Sequence[Reply]], Awaitable[object]],
        *,
        transient: Callable[[BaseException], bool],
        only: Collection[int] | None = None,
    ) -> int:
        """At start, before the pending updates: sends the replies of updates handled
        before a crash but not sent, each chat's in order; returns how many updates had
        some. Replies older than RESEND_WITHIN are dropped (the learner has moved on).

        On PostgreSQL several workers share the database. One worker at a time resends
        (an advisory lock: one starting meanwhile finds the copies cleared), and a copy kept
        less than RESEND_GRACE ago is left to the worker that may still be sending it: it is
        looked at again once it is that old, and sent if it is still there. SQLite runs one
        process: it sends everything at once."""
        shared = not is_sqlite(self.runtime.settings.database_url)
        grace = RESEND_GRACE if shared else timedelta(0)
        async with self.runtime.uow() as uow:
            if shared:
                await uow.lock(f"resend:{self.channel}")
            kept = [
                (update_id, at, data)
                for update_id, at, data in await uow.updates.replies_to_send()
                if data.get("channel") == self.channel and (only is None or update_id in only)
            ]
            now = self.runtime.engine.clock()
            young = {update_id: at for update_id, at, _ in kept if now - at < grace}
            kept = [row for row in kept if row[0] not in young]
            fresh = [row for row in kept if now - row[1] <= RESEND_WITHIN]
            if shared and kept:  # sent and cleared under the lock
                await self._send_kept(fresh, send, transient=transient)
                await uow.updates.replies_sent([update_id for update_id, _, _ in kept])
                await uow.commit()
        if not shared and kept:
            await self._send_kept(fresh, send, transient=transient)
            self._sent.update(update_id for update_id, _, _ in kept)
            await self.flush_sent()
        if fresh:
            log.info("sent the replies of %d updates handled before the restart", len(fresh))
        if len(kept) > len(fresh):
            log.info("dropped the replies of %d updates handled long ago", len(kept) - len(fresh))
        if young and self._again is None:
            wait = (grace - (now - max(young.values()))).total_seconds()  # the youngest
            self._again = asyncio.get_running_loop().create_task(
                self._resend_later(wait, send, transient=transient, only=set(young))
            )
        return len(fresh)

    async def _resend_later(
        self,
        wait: float,
        send: Callable[[str, Sequence[Reply]], Awaitable[object]],
        *,
        transient: Callable[[BaseException], bool],
        only: Collection[int],
    ) -> None:
        """The replies a starting worker left to the worker that kept them, if still kept
        once that worker had time to send them."""
        try:
            await asyncio.sleep(wait)
            self._again = None  # (it looks again if some are still young: a clock moved)
            await self.resend(send, transient=transient, only=only)
        except Exception as error:  # sent at the next start instead
            log.warning("could not resend kept replies: %s", describe(error))
        finally:
            if self._again is asyncio.current_task():
                self._again = None

    async def _send_kept(
        self,
        rows: Sequence[tuple[int, Any, dict[str, Any]]],
        send: Callable[[str, Sequence[Reply]], Awaitable[object]],
        *,
        transient: Callable[[BaseException], bool],
    ) -> None:
        for update_id, _, data in rows:
            chat = str(data.get("chat"))
            replies = [Reply.of_data(reply) for reply in data.get("replies", ())]

            async def send_one(reply: Reply, chat: str = chat) -> None:
                await send(chat, [reply])

            try:
                await _send_all(update_id, replies, send_one, transient=transient)
            except Exception as error:
                log.warning(
                    "update %d: replies kept over a restart failed to send: %s",
                    update_id,
                    describe(error),
                )

    async def store(self, updates: Sequence[tuple[int, str | None, dict[str, Any]]]) -> set[int]:
        """Stores (update_id, user key, raw update) in one transaction; returns the ids that
        are new (neither stored nor handled before). Raises when the database fails: then
        nothing may be acknowledged."""
        now = self.runtime.engine.clock()
        rows = [
            InboxUpdate(
                update_id=update_id,
                channel=self.channel,
                payload=payload,
                user_key=user_key,
                received_at=now,
            )
            for update_id, user_key, payload in updates
        ]
        async with self.runtime.uow() as uow:
            new = await uow.inbox.store(rows)
            await uow.commit()
        return new

    async def pending(self, *, limit: int = 10_000) -> list[tuple[int, dict[str, Any]]]:
        """What was stored and not handled (a crash, a stop), as (update_id, raw update),
        oldest first: handled first at start."""
        async with self.runtime.uow() as uow:
            rows = await uow.inbox.pending(channel=self.channel, limit=limit)
            return [(row.update_id, row.payload) for row in rows]

    async def set_aside(self, update_id: int, error: BaseException) -> None:
        """Keeps an update that cannot be handled for an operator; logs it once."""
        await self._failed(update_id, error, set_aside=True)
        log.error("update %d set aside: %s", update_id, describe(error))

    async def run(
        self,
        update_id: int,
        user_key: str | None,
        handle: Callable[[], Awaitable[object]],
    ) -> None:
        """Handles one stored update: after the user's earlier ones, with retries.

        `handle` is called once per attempt. A failure is what it raises, or what the channel's
        error handler gave to `record_error` during the call.
        """
        key = user_key or f"update:{update_id}"
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await self._attempts(update_id, key, handle)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                del self._locks[key]

    async def _attempts(
        self, update_id: int, key: str, handle: Callable[[], Awaitable[object]]
    ) -> None:
        for number in range(1, ATTEMPTS + 1):
            attempt = Attempt(update_id=update_id, number=number, inbox=self)
            token = _CURRENT.set(attempt)
            try:
                await handle()
            except Exception as error:
                attempt.error = error
            finally:
                _CURRENT.reset(token)
            if attempt.error is None:
                if not attempt.handled:
                    await self._forget(update_id)
                return
            if attempt.last:
                await self.set_aside(update_id, attempt.error)
                return
            log.warning(
                "update %d of %s failed (attempt %d of %d): %s",
                update_id,
                key,
                number,
                ATTEMPTS,
                describe(attempt.error),
            )
            await self._failed(update_id, attempt.error, set_aside=False)
            await asyncio.sleep(PAUSES[number - 1])

    async def _forget(self, update_id: int) -> None:
        try:
            async with self.runtime.uow() as uow:
                await uow.inbox.forget(update_id)
                await uow.commit()
        except Exception as error:
            log.warning(
                "update %d: could not clear it from the inbox: %s", update_id, describe(error)
            )

    async def _failed(self, update_id: int, error: BaseException, *, set_aside: bool) -> None:
        try:
            async with self.runtime.uow() as uow:
                await uow.inbox.failed(
                    update_id,
                    error=type(error).__name__,
                    at=self.runtime.engine.clock(),
                    set_aside=set_aside,
                )
                await uow.commit()
        except Exception as failure:
            log.warning(
                "update %d: could not record the failure: %s", update_id, describe(failure)
            )
