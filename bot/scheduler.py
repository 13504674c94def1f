"""The outbox dispatcher and its wiring into python-telegram-bot's JobQueue.

The outbox table is the one source of truth for scheduled messages. One repeating job claims
due messages in a first transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE`
on SQLite) and commits the claim; then it sends them through a `Sender` and records each
outcome in a second transaction. A claim that never got its outcome recorded (a crash) is
found at start-up and marked "unknown": it is never resent blindly.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from flows import nudges
from flows.engine import Clock
from flows.i18n import Translator
from flows.messages import Reply
from storage.models import OutboxMessage, User
from storage.repositories import WAITING, SignalInfo
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

#: A claim older than this at start-up was interrupted: its outcome is unknown.
LEASE = timedelta(minutes=5)
DISPATCH_INTERVAL = 1.0  # seconds between two looks at the outbox
BATCH = 200


# -- sending ----------------------------------------------------------------------------------
class RetryLater(Exception):
    """The channel asked to wait (Telegram's 429) before sending again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class Unreachable(Exception):
    """The recipient blocked the bot or deleted their account."""


class OutcomeUnknown(Exception):
    """The send may or may not have arrived (a timeout, a lost connection)."""


class SendFailed(Exception):
    """The channel refused this message for good (a bad request)."""


class Waiting(Exception):
    """The channel cannot carry this message now (outside WhatsApp's 24-hour window): it
    waits until the recipient writes again."""


class Sender(Protocol):
    """Delivers one rendered message to a user, or raises one of the exceptions above.
    Returns the channel's id of the sent message when its status reports will name it."""

    async def send(self, user: User, reply: Reply) -> str | None: ...


#: What one send came to: outbox row id, outcome, seconds to wait, the channel's message id.
Outcome = tuple[int, str, float, str | None]

_NO_RETRY: ContextVar[bool] = ContextVar("opstap_no_retry", default=False)


class OutboxRateLimiter(AIORateLimiter):
    """AIORateLimiter that lets the outbox handle 429 itself: sends of the dispatcher are
    tried once (the outbox reschedules them after `retry_after`); others retry as usual."""

    @property
    def _max_retries(self) -> int:
        return 0 if _NO_RETRY.get() else self._default_retries

    @_max_retries.setter
    def _max_retries(self, value: int) -> None:
        self._default_retries = value


class TelegramSender:
    """Sends through the application's (rate-limited) bot."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, user: User, reply: Reply) -> None:
        from bot.telegram import keyboard

        if user.chat_id is None:
            raise Unreachable("no chat")
        token = _NO_RETRY.set(True)
        try:
            await self.bot.send_message(
                int(user.chat_id), reply.text, reply_markup=keyboard(reply)
            )
        except RetryAfter as error:
            with warnings.catch_warnings():  # its type changes in a future version
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = error.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            raise RetryLater(float(seconds)) from error
        except Forbidden as error:
            raise Unreachable(str(error)) from error
        except TimedOut as error:
            raise OutcomeUnknown(str(error)) from error
        except BadRequest as error:
            raise SendFailed(str(error)) from error
        except NetworkError as error:
            raise OutcomeUnknown(str(error)) from error
        except TelegramError as error:
            raise SendFailed(str(error)) from error
        finally:
            _NO_RETRY.reset(token)


# -- dispatching ------------------------------------------------------------------------------
@dataclass
class DispatchResult:
    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, outcome: str) -> int:
        return self.counts[outcome]


@dataclass
class Dispatcher:
    """Claims due outbox messages, sends them and records what happened."""

    uow_factory: Callable[[], UnitOfWork]
    sender: Sender
    clock: Clock
    translator: Callable[[str], Translator]
    policy: nudges.NudgePolicy = field(default_factory=nudges.NudgePolicy)
    batch: int = BATCH
    concurrency: int = 30
    #: Only these recipients (the terminal chat sends to its own user only).
    user_ids: Collection[int] | None = None
    #: The sender of each other channel, by `User.channel`; `sender` serves the rest.
    senders: Mapping[str, Sender] = field(default_factory=dict)

    async def recover(self) -> int:
        """At start-up: claims older than the lease get an unknown outcome."""
        async with self.uow_factory() as uow:
            count = await uow.scheduler.recover_claims(claimed_before=self.clock() - LEASE)
            await uow.commit()
        if count:
            log.warning("%d outbox messages had an unknown outcome and are not resent", count)
        return count

    async def run_once(self) -> DispatchResult:
        """One round: claim, send, record."""
        result = DispatchResult()
        claimed = await self._claim(result)
        if not claimed:
            return result
        semaphore = asyncio.Semaphore(self.concurrency)

        async def send(item: tuple[int, User, Reply]) -> Outcome:
            message_id, user, reply = item
            sender = self.senders.get(user.channel, self.sender)
            async with semaphore:
                try:
                    ref = await sender.send(user, reply)
                except RetryLater as error:
                    return message_id, "retry", error.retry_after, None
                except Unreachable:
                    return message_id, "blocked", 0.0, None
                except OutcomeUnknown:
                    return message_id, "unknown", 0.0, None
                except SendFailed:
                    return message_id, "failed", 0.0, None
                except Waiting:
                    return message_id, "waiting", 0.0, None
                return message_id, "sent", 0.0, ref

        results = await asyncio.gather(*(send(item) for item in claimed), return_exceptions=True)
        await self._record([r for r in results if not isinstance(r, BaseException)], result)
        for failure in results:
            if isinstance(failure, BaseException):
                # A crash while sending: the other outcomes are recorded; this claim stays
                # and becomes "unknown" at the next start, never resent blindly.
                raise failure
        return result

    async def _claim(self, result: DispatchResult) -> list[tuple[int, User, Reply]]:
        claimed: list[tuple[int, User, Reply]] = []
        async with self.uow_factory() as uow:
            now = self.clock()
            held = await uow.scheduler.release_held(now=now) if self.user_ids is None else 0
            if self.senders and self.user_ids is None:
                await uow.channels.release_waiting(now=now)
            if held:  # no zero entries: empty counts mean an idle round
                result.counts["held"] += held
            messages = await uow.scheduler.claim_due(
                now=now, limit=self.batch, user_ids=self.user_ids
            )
            if not messages and not result.counts["held"]:
                return []
            calendar = await nudges.load_calendar(
                uow, around=now.date(), country=self.policy.country
            )
            recipients = await uow.scheduler.recipients([m.user_id for m in messages])
            signals = await self._relevant_signals(uow, messages)
            for message in messages:
                user, prefs = recipients.get(message.user_id, (None, None))
                decision = nudges.decide(
                    message,
                    user,
                    prefs,
                    signals.get(message.user_id, ()),
                    now=now,
                    calendar=calendar,
                    policy=self.policy,
                )
                result.counts[decision.verdict] += 1
                if decision.verdict == "send" and user is not None:
                    message.status, message.claimed_at = "claimed", now
                    message.attempts += 1
                    reply = nudges.render(message, self.translator(user.language))
                    claimed.append((message.id, _detached(user), reply))
                elif decision.verdict == "defer" and decision.until is not None:
                    message.due_at = decision.until
                else:
                    message.status = {"expire": "expired", "cancel": "cancelled"}.get(
                        decision.verdict, "skipped"
                    )
                    message.error = decision.reason[:255]
            await uow.commit()
        return claimed

    @staticmethod
    async def _relevant_signals(
        uow: UnitOfWork, messages: list[OutboxMessage]
    ) -> dict[int, list[SignalInfo]]:
        """The signals that may make the claimed nudges pointless, in one query."""
        planned = [m for m in messages if m.kind in nudges.NUDGE_KINDS]
        found: dict[int, list[SignalInfo]] = {}
        if not planned:
            return found
        since = min(m.created_at for m in planned) - nudges.RELEVANCE_WINDOW
        for signal in await uow.scheduler.signals_of(
            {m.user_id for m in planned}, since=since, kinds=nudges.RELEVANCE_SIGNALS
        ):
            found.setdefault(signal.user_id, []).append(signal)
        return found

    async def _record(self, outcomes: list[Outcome], result: DispatchResult) -> None:
        async with self.uow_factory() as uow:
            now = self.clock()
            messages = {m.id: m for m in await uow.scheduler.messages([o[0] for o in outcomes])}
            recipients = await uow.scheduler.recipients([m.user_id for m in messages.values()])
            for message_id, outcome, retry_after, ref in outcomes:
                message = messages[message_id]
                user = recipients.get(message.user_id, (None, None))[0]
                result.counts[outcome] += 1
                if outcome == "sent" and user is not None:
                    await nudges.record_sent(uow, message, user, now=now)
                    message.channel_message_id = ref
                elif outcome == "waiting":
                    message.status, message.claimed_at = WAITING, now
                    message.error = "waits until the recipient writes"
                elif outcome == "retry":
                    message.status, message.claimed_at = "pending", None
                    message.due_at = now + timedelta(seconds=retry_after)
                    message.error = f"rate limited: retry after {retry_after:g} s"
                elif outcome == "blocked" and user is not None:
                    await nudges.record_blocked(uow, message, user, now=now, policy=self.policy)
                elif outcome == "unknown":
                    message.status, message.error = "unknown", "outcome unknown"
                else:
                    message.status, message.error = "failed", "refused by the channel"
            await uow.commit()


def _detached(user: User) -> User:
    """A copy of the recipient that outlives the unit of work."""
    copy = User(
        channel=user.channel,
        external_id=user.external_id,
        language=user.language,
        chat_id=user.chat_id,
        display_name=user.display_name,
        role=user.role,
        status=user.status,
        last_seen_at=user.last_seen_at,
    )
    copy.id = user.id
    return copy


async def plan(
    uow_factory: Callable[[], UnitOfWork],
    clock: Clock,
    policy: nudges.NudgePolicy,
    *,
    batch: int = nudges.BATCH,
) -> nudges.PlanningResult:
    """Plans the nudges of every learner, one transaction per batch, so that updates are
    never kept waiting long (SQLite has one writer at a time)."""
    now = clock()
    result = nudges.PlanningResult()
    async with uow_factory() as uow:
        state = await nudges.start_planning(uow, now=now, policy=policy)
        await uow.commit()
    after: int | None = 0
    while after is not None:
        async with uow_factory() as uow:
            after = await nudges.plan_batch(uow, state, result, after_id=after, size=batch)
            await uow.commit()
    log.info("planned %d nudges for %d learners", result.planned, result.learners)
    return result


# -- wiring -----------------------------------------------------------------------------------
def install(application: Application[Any, Any, Any, Any, Any, Any], runtime: Any) -> Dispatcher:
    """Adds the dispatcher (every second) and the planner (at start and daily) to the job
    queue; returns the dispatcher, whose `recover` runs in post_init."""
    engine = runtime.engine
    policy = runtime.nudge_policy()
    dispatcher = Dispatcher(
        uow_factory=runtime.uow,
        sender=TelegramSender(application.bot),
        clock=engine.clock,
        translator=engine.translator,
        policy=policy,
        senders=dict(runtime.senders),
    )
    queue = application.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a dependency
        raise RuntimeError("python-telegram-bot's job queue is not installed")

    async def dispatch_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        await dispatcher.run_once()

    async def plan_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        await plan(runtime.uow, engine.clock, policy)

    queue.run_repeating(dispatch_job, interval=DISPATCH_INTERVAL, first=0.5, name="outbox")
    queue.run_once(plan_job, when=1, name="plan-at-start")
    queue.run_daily(
        plan_job, time=time(0, 15, tzinfo=ZoneInfo(policy.timezone)), name="plan-daily"
    )
    return dispatcher
