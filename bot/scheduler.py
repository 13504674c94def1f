"""The outbox dispatcher, the planner and retention, and their wiring into a job queue.

The outbox table is the one source of truth for scheduled messages. One repeating job claims
due messages in a first transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE`
on SQLite) and commits the claim; then it sends them through a `Sender` and records each
outcome in a second transaction. Every round first looks for claims older than the lease
(a process that died between claim and record): their outcome is unknown, they are marked so
and never resent blindly. A round claims no more than can be sent within the lease.

A round sends at most one message per recipient (the rate limiter keeps a private chat at one
a second); a coach's notices that are due together go as one digest. Messages people wrote
(a coach's text, a relayed answer) are claimed before scheduled nudges.

On PostgreSQL several processes may run the job, but only the one holding the dispatcher
lease (a session advisory lock, `Lease`) sends and plans: one send budget for the bot. When
that process dies its connection closes, the lock is free, and another process takes over at
its next round. The planner runs in the same process, at start and every day after 00:15
(programme time); a day whose planning time passed while the process slept is caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.ratelimit import OVERALL_PER_SECOND
from flows import nudges
from flows.engine import Clock
from flows.i18n import Translator
from flows.messages import Reply
from flows.privacy import purge
from storage.models import OutboxMessage, User
from storage.repositories import WAITING, SignalInfo
from storage.uow import UnitOfWork

__all__ = [
    "AsyncioJobs",
    "Dispatcher",
    "Jobs",
    "Lease",
    "NotServedHere",
    "Planner",
    "Sender",
    "SharedSchedule",
    "install",
    "plan",
]

log = logging.getLogger(__name__)

#: A claim older than this was interrupted: its outcome is unknown.
LEASE = timedelta(minutes=5)
DISPATCH_INTERVAL = 1.0  # seconds between two looks at the outbox
#: Messages claimed per round: two seconds of sending at the overall rate.
BATCH = 60
#: A dispatch job goes on with the next round while there is work, for up to this long.
ROUND_TIME = 10.0
#: When the planner runs every day (programme time); it also runs at start and catches up.
PLAN_TIME = time(0, 15)
PLAN_CHECK_INTERVAL = 30.0  # seconds between two looks at whether planning is due
#: When retention erases what is kept too long (programme time).
RETENTION_TIME = time(3, 30)
#: The advisory lock key of the one dispatcher (PostgreSQL).
LEASE_KEY = "opstap:dispatcher"
#: A new lease holder waits this long before it sends: the cap's window and a margin.
LEASE_SETTLE = 1.5


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


# -- one dispatcher at a time -----------------------------------------------------------------
class Lease:
    """Whether this process is the one dispatcher (and planner) of the database.

    On PostgreSQL it is a session advisory lock held on a connection of its own: taken at the
    first round that finds it free, kept while that connection lives, and freed by
    PostgreSQL when the process dies. SQLite runs one process: it always holds the lease.

    A process that takes the lease holds it for `settle` seconds before it tells so: the
    last messages of the dispatcher before it (killed, or stopped) have left their
    second by then, and the two never share one second of the budget.
    """

    def __init__(
        self, engine: AsyncEngine, *, key: str = LEASE_KEY, settle: float = LEASE_SETTLE
    ) -> None:
        self.engine = engine
        self.key = key
        self.settle = settle
        self._connection: AsyncConnection | None = None
        self._since = 0.0  # when this process took the lease (event loop time)

    @property
    def shared(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def held(self) -> bool:
        """Takes the lease when it is free; tells whether this process holds it."""
        if not self.shared:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return asyncio.get_running_loop().time() >= self._since + self.settle
            except DBAPIError:
                log.warning("lost the dispatcher lease (its connection broke)")
                await self._drop()
        connection = await self.engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))"),
                {"key": self.key},
            )
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        self._since = asyncio.get_running_loop().time()
        log.info("this process is now the dispatcher")
        return self.settle <= 0

    async def release(self) -> None:
        """Gives the lease up (at shutdown), so that another process takes over at once."""
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):  # the lock goes with the connection anyway
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"),
                    {"key": self.key},
                )
            await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(DBAPIError):  # already broken
                await connection.close()


class SharedSchedule:
    """The overall send budget of the bot, shared by every process on PostgreSQL.

    One row per channel (`send_schedule`) holds the moment the next request may go. Each
    request takes the next slot in one statement: one interval after the slot before, and
    never before now (an idle schedule releases no burst). It returns how long to wait for
    that slot, so the requests of all processes together keep one interval apart: 30 a
    second for Telegram, however many workers reply. Replies and scheduled messages take
    slots in the order they ask, and the dispatcher asks one slot at a time, so a reply in
    another process waits at most a slot or two behind the dispatcher's messages.

    It uses a connection of its own, one statement at a time. When the database does not
    answer within `timeout` seconds, the request goes on the process's own budget only
    (logged once): a broken bookkeeping connection must not stop the replies.
    """

    def __init__(
        self, engine: AsyncEngine, channel: str, interval: float, *, timeout: float = 2.0
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.interval = interval
        self.timeout = timeout
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._failing = False

    @classmethod
    def for_engine(
        cls, engine: AsyncEngine, channel: str, interval: float
    ) -> SharedSchedule | None:
        """A shared schedule on PostgreSQL; None on SQLite (one process)."""
        return cls(engine, channel, interval) if engine.dialect.name == "postgresql" else None

    async def __call__(self, hold: float = 0.0) -> float:
        """Takes the next slot, at least `hold` seconds from now (the platform asked every
        process to wait: a 429 answer); returns the seconds to wait for it."""
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    wait = await self._take(hold)
            except (DBAPIError, OSError, TimeoutError) as error:
                if not self._failing:
                    log.warning(
                        "shared send schedule unavailable (%s): pacing this process alone",
                        type(error).__name__,
                    )
                self._failing = True
                await self._drop()
                return 0.0
        if self._failing:
            log.info("shared send schedule available again")
            self._failing = False
        return max(wait, 0.0)

    async def _take(self, hold: float) -> float:
        if self._connection is None:
            connection = await self.engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        wait = await self._connection.scalar(
            _TAKE_SLOT, {"channel": self.channel, "interval": self.interval, "hold": hold}
        )
        return float(wait or 0.0)

    async def close(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(DBAPIError, OSError):  # already broken
                await connection.close()


_TAKE_SLOT = text(
    """
    INSERT INTO send_schedule (channel, next_at)
    VALUES (:channel, clock_timestamp() + make_interval(secs => CAST(:hold AS float8) + :interval))
    ON CONFLICT (channel) DO UPDATE SET next_at =
        GREATEST(send_schedule.next_at, clock_timestamp() + make_interval(secs => :hold))
        + make_interval(secs => :interval)
    RETURNING EXTRACT(EPOCH FROM next_at - clock_timestamp()) - :interval
    """
)


# -- dispatching ------------------------------------------------------------------------------
@dataclass
class DispatchResult:
    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, outcome: str) -> int:
        return self.counts[outcome]


@dataclass(frozen=True)
class _Send:
    """One message to send: the outbox rows it stands for (several for a digest)."""

    ids: tuple[int, ...]
    user: User
    reply: Reply


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
    #: The send rate the claims are sized for (the rate limiter does the pacing).
    rate: float = OVERALL_PER_SECOND
    #: Only these recipients (the terminal chat sends to its own user only).
    user_ids: Collection[int] | None = None
    #: The sender of each other channel, by `User.channel`; `sender` serves the rest.
    senders: Mapping[str, Sender] = field(default_factory=dict)
    #: Only the holder dispatches (None: this process always does).
    lease: Lease | None = None
    #: Read-only units of work: an idle round only looks (on SQLite without the write lock).
    reader: Callable[[], UnitOfWork] | None = None
    _busy: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.batch > self.rate * LEASE.total_seconds() / 2:
            raise ValueError("a round must be sent well within the lease: lower the batch")

    async def recover(self) -> int:
        """Claims older than the lease get an unknown outcome (runs with every round)."""
        async with self.uow_factory() as uow:
            count = await uow.scheduler.recover_claims(claimed_before=self.clock() - LEASE)
            await uow.commit()
        if count:
            log.warning("%d outbox messages had an unknown outcome and are not resent", count)
        return count

    async def run(self, *, seconds: float = ROUND_TIME) -> DispatchResult:
        """Rounds back to back while a full batch was claimed, for up to `seconds`; returns
        at once when a round is already running here or another process holds the lease."""
        total = DispatchResult()
        if self._busy.locked():
            return total
        async with self._busy:
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            while True:
                result = await self.run_once()
                total.counts.update(result.counts)
                claimed = sum(result.counts[v] for v in ("send", "defer", "expire", "cancel"))
                if claimed < self.batch or loop.time() >= end:
                    return total

    async def run_once(self) -> DispatchResult:
        """One round: reclaim expired claims, claim, send, record."""
        result = DispatchResult()
        if self.lease is not None and not await self.lease.held():
            return result
        if self.reader is not None:
            async with self.reader() as peek:
                now = self.clock()
                idle = not await peek.scheduler.work_waiting(
                    now=now, claimed_before=now - LEASE, user_ids=self.user_ids
                )
            if idle:
                return result
        claimed = await self._claim(result)
        if not claimed:
            return result
        semaphore = asyncio.Semaphore(self.concurrency)

        async def send(item: _Send) -> tuple[tuple[int, ...], str, float, str | None]:
            sender = self.senders.get(item.user.channel, self.sender)
            async with semaphore:
                try:
                    ref = await sender.send(item.user, item.reply)
                except RetryLater as error:
                    return item.ids, "retry", error.retry_after, None
                except Unreachable:
                    return item.ids, "blocked", 0.0, None
                except OutcomeUnknown:
                    return item.ids, "unknown", 0.0, None
                except SendFailed:
                    return item.ids, "failed", 0.0, None
                except Waiting:
                    return item.ids, "waiting", 0.0, None
                return item.ids, "sent", 0.0, ref

        results = await asyncio.gather(*(send(item) for item in claimed), return_exceptions=True)
        outcomes: list[Outcome] = [
            (message_id, outcome, wait, ref)
            for r in results
            if not isinstance(r, BaseException)
            for ids, outcome, wait, ref in [r]
            for message_id in ids
        ]
        await self._record(outcomes, result)
        for failure in results:
            if isinstance(failure, BaseException):
                # A crash while sending: the other outcomes are recorded; this claim stays
                # and becomes "unknown" when its lease runs out, never resent blindly.
                raise failure
        return result

    async def _claim(self, result: DispatchResult) -> list[_Send]:
        claimed: list[_Send] = []
        async with self.uow_factory() as uow:
            now = self.clock()
            recovered = await uow.scheduler.recover_claims(claimed_before=now - LEASE)
            if recovered:
                result.counts["recovered"] += recovered
                log.warning(
                    "%d outbox messages had an unknown outcome and are not resent", recovered
                )
            held = await uow.scheduler.release_held(now=now) if self.user_ids is None else 0
            if self.senders and self.user_ids is None:
                await uow.channels.release_waiting(now=now)
            if held:  # no zero entries: empty counts mean an idle round
                result.counts["held"] += held
            messages = await uow.scheduler.claim_due(
                now=now, limit=self.batch, user_ids=self.user_ids, scheduled_last=True
            )
            if not messages and not result.counts["held"]:
                if recovered:
                    await uow.commit()
                return []
            calendar = await nudges.load_calendar(
                uow, around=now.date(), country=self.policy.country
            )
            recipients = await uow.scheduler.recipients([m.user_id for m in messages])
            signals = await self._relevant_signals(uow, messages)
            ready: dict[int, list[OutboxMessage]] = {}
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
                if decision.verdict == "send" and user is not None:
                    ready.setdefault(user.id, []).append(message)
                    continue
                result.counts[decision.verdict] += 1
                if decision.verdict == "defer" and decision.until is not None:
                    message.due_at = decision.until
                else:
                    message.status = {"expire": "expired", "cancel": "cancelled"}.get(
                        decision.verdict, "skipped"
                    )
                    message.error = decision.reason[:255]
            for user_id, waiting in ready.items():
                # One message per recipient a round; a coach's notices go as one digest. The
                # others stay pending and come first in a next round.
                user = recipients[user_id][0]
                translator = self.translator(user.language)
                first = waiting[0]
                if first.kind in nudges.COACH_KINDS:
                    together = [m for m in waiting if m.kind in nudges.COACH_KINDS]
                else:
                    together = [first]
                for message in together:
                    message.status, message.claimed_at = "claimed", now
                    message.attempts += 1
                result.counts["send"] += len(together)
                reply = (
                    nudges.render_digest(together, translator)
                    if len(together) > 1
                    else nudges.render(first, translator)
                )
                claimed.append(_Send(tuple(m.id for m in together), _detached(user), reply))
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
        for signal_ in await uow.scheduler.signals_of(
            {m.user_id for m in planned}, since=since, kinds=nudges.RELEVANCE_SIGNALS
        ):
            found.setdefault(signal_.user_id, []).append(signal_)
        return found

    async def _record(self, outcomes: list[Outcome], result: DispatchResult) -> None:
        """Records what happened, in one transaction: the messages sent (nearly all of
        them) in a few statements for the round, the others one by one."""
        sent = {o[0]: o[3] for o in outcomes if o[1] == "sent"}
        others = [o for o in outcomes if o[1] != "sent"]
        async with self.uow_factory() as uow:
            now = self.clock()
            result.counts["sent"] += len(sent)
            await nudges.record_sent_many(uow, sent, now=now)
            if others:
                await self._record_others(uow, others, result, now=now)
            await uow.commit()

    async def _record_others(
        self, uow: UnitOfWork, outcomes: list[Outcome], result: DispatchResult, *, now: datetime
    ) -> None:
        """The rarer outcomes, each on its own model."""
        messages = {m.id: m for m in await uow.scheduler.messages([o[0] for o in outcomes])}
        recipients = await uow.scheduler.recipients([m.user_id for m in messages.values()])
        for message_id, outcome, retry_after, _ref in outcomes:
            message = messages[message_id]
            user = recipients.get(message.user_id, (None, None))[0]
            result.counts[outcome] += 1
            if outcome == "waiting":
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


# -- planning ---------------------------------------------------------------------------------
async def plan(
    uow_factory: Callable[[], UnitOfWork],
    clock: Clock,
    policy: nudges.NudgePolicy,
    *,
    batch: int = nudges.BATCH,
    full: bool = False,
) -> nudges.PlanningResult:
    """Plans the nudges of the learners due (of every learner when `full`), one
    transaction per batch, so that updates are never kept waiting long (SQLite has one
    writer at a time)."""
    now = clock()
    result = nudges.PlanningResult()
    async with uow_factory() as uow:
        state = await nudges.start_planning(uow, now=now, policy=policy, full=full)
        await uow.commit()
    after: int | None = 0
    while after is not None:
        async with uow_factory() as uow:
            after = await nudges.plan_batch(uow, state, result, after_id=after, size=batch)
            await uow.commit()
    async with uow_factory() as uow:
        await uow.scheduler.record_round(
            day=state.today, fingerprint=nudges.fingerprint(policy), at=clock()
        )
        await uow.commit()
    log.info(
        "planned %d nudges for %d learners (%s round)",
        result.planned,
        result.learners,
        "full" if full else "daily",
    )
    return result


@dataclass
class Planner:
    """Plans once a day after PLAN_TIME (programme time), the learners due; a day whose
    planning time went by unseen (a suspended host, a clock set forward) is planned at the
    next look. Only the lease holder plans.

    At start, and when it takes over the lease, it asks the database for the last round
    that finished: when its fingerprint (`nudges.fingerprint`: the policy and the planner's
    code) is this process's, the daily rounds go on from that day; when it differs, or no
    round ever finished, the first round reads every learner, since the planning days found
    before may be wrong now."""

    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    policy: nudges.NudgePolicy
    lease: Lease | None = None
    at: time = PLAN_TIME
    planned_on: date | None = None  # the programme day of the last planning seen
    _busy: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _held: bool = field(default=False, repr=False)

    def due(self, now: datetime) -> bool:
        """Whether a planning round is due: none seen, or a new day past `at`."""
        local = now.astimezone(ZoneInfo(self.policy.timezone))
        if self.planned_on is None:
            return True
        return local.date() > self.planned_on and local.time() >= self.at

    async def run_if_due(self) -> nudges.PlanningResult | None:
        """Plans when due and this process holds the lease; None when it did not plan."""
        if self._busy.locked():
            return None
        if self.lease is not None:
            held = await self.lease.held()
            if held and not self._held:
                self.planned_on = None  # another process may have planned meanwhile
            self._held = held
            if not held:
                return None
        if not self.due(self.clock()):
            return None
        async with self._busy:
            now = self.clock()
            full = False
            if self.planned_on is None:
                async with self.uow_factory() as uow:
                    last = await uow.scheduler.last_round()
                if last is not None and last[1] == nudges.fingerprint(self.policy):
                    log.info("last planning round: %s, same code and policy", last[0])
                    self.planned_on = last[0]
                    if not self.due(now):
                        return None
                else:
                    full = True
                    if last is not None:
                        log.info(
                            "the planner's code or policy changed since the round of %s:"
                            " this round reads every learner",
                            last[0],
                        )
            result = await plan(self.uow_factory, lambda: now, self.policy, full=full)
            self.planned_on = now.astimezone(ZoneInfo(self.policy.timezone)).date()
            return result


# -- wiring -----------------------------------------------------------------------------------
#: A job: a coroutine function without arguments.
Job = Callable[[], Awaitable[object]]


class Jobs(Protocol):
    """Where the scheduler's jobs run. Telegram's room gives python-telegram-bot's JobQueue
    (`bot.telegram.PtbJobs`); without Telegram, `AsyncioJobs` runs them as plain tasks."""

    def every(self, seconds: float, job: Job, *, first: float, name: str) -> None:
        """Runs `job` after `first` seconds, then every `seconds`."""

    def daily(self, at: time, job: Job, *, name: str) -> None:
        """Runs `job` every day at `at` (an aware time, programme time zone); a run missed
        while the host slept is made up once, up to 12 hours late."""


#: A daily job may run this late (a suspended host, a clock correction), once.
DAILY_GRACE = timedelta(hours=12)


class AsyncioJobs:
    """`Jobs` as asyncio tasks, started and stopped with `async with`: a process without
    python-telegram-bot's JobQueue (WhatsApp alone). A job that fails is logged by type
    and runs again at its next time, as PTB's JobQueue does."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self._jobs: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.names: list[str] = []

    def every(self, seconds: float, job: Job, *, first: float, name: str) -> None:
        async def loop() -> None:
            await asyncio.sleep(first)
            while True:
                await self._run(job, name)
                await asyncio.sleep(seconds)

        self._add(loop, name)

    def daily(self, at: time, job: Job, *, name: str) -> None:
        if at.tzinfo is None:
            raise ValueError("a daily job needs an aware time")

        zone = at.tzinfo
        moment = at.replace(tzinfo=None)

        async def loop() -> None:
            def today() -> tuple[datetime, datetime]:
                now = self.clock().astimezone(zone)
                return now, datetime.combine(now.date(), moment, zone)

            now, due = today()
            done = now.date() if now >= due else None  # today's moment went by before start
            while True:
                now, due = today()
                if done != now.date() and now >= due:
                    done = now.date()
                    if now - due <= DAILY_GRACE:
                        await self._run(job, name)
                    continue
                later = due if now < due else due + timedelta(days=1)
                # Look again at least every minute: the clock may jump (a suspended host).
                await asyncio.sleep(min((later - now).total_seconds(), 60.0))

        self._add(loop, name)

    def _add(self, loop: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        self._jobs.append(loop)
        self.names.append(name)
        if self._tasks:  # already running
            self._tasks.append(asyncio.create_task(loop(), name=name))

    @staticmethod
    async def _run(job: Job, name: str) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a job runner's top level: the next run must still come
            log.error("the %s job failed (%s); it runs again later", name, type(error).__name__)

    async def __aenter__(self) -> AsyncioJobs:
        self._tasks = [
            asyncio.create_task(loop(), name=name)
            for loop, name in zip(self._jobs, self.names, strict=True)
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def install(jobs: Jobs, runtime: Any, sender: Sender) -> Dispatcher:
    """Adds the dispatcher (every second), the planner (every half minute, planning when
    due) and retention (daily at 03:30) to `jobs`; the first two act only while this
    process holds the lease. Returns the dispatcher, whose `lease` is released at shutdown.
    `sender` serves the users of every channel without a sender in `runtime.senders`; each
    channel room registers its own there, with its own rate limits (the scheduler imports
    no room and no channel library)."""
    engine = runtime.engine
    policy = runtime.nudge_policy()
    lease = Lease(runtime.db)
    dispatcher = Dispatcher(
        uow_factory=runtime.uow,
        sender=sender,
        clock=engine.clock,
        translator=engine.translator,
        policy=policy,
        senders=dict(runtime.senders),
        lease=lease,
        reader=runtime.reader,
    )
    planner = Planner(uow_factory=runtime.uow, clock=engine.clock, policy=policy, lease=lease)

    async def retention() -> None:
        """Erases learners inactive for OPSTAP_RETENTION_MONTHS months, old exports,
        orphaned uploads and old update ids (flows/privacy.py `purge`)."""
        erased = await purge(
            runtime.uow,
            engine.files,
            now=engine.clock(),
            months=runtime.settings.retention_months,
        )
        log.info("retention: erased %d learners", len(erased))

    jobs.every(DISPATCH_INTERVAL, dispatcher.run, first=0.5, name="outbox")
    jobs.every(PLAN_CHECK_INTERVAL, planner.run_if_due, first=1, name="planner")
    zone = ZoneInfo(policy.timezone)
    jobs.daily(RETENTION_TIME.replace(tzinfo=zone), retention, name="retention_job")
    return dispatcher


class NotServedHere:
    """The outbox sender for users of a channel this process does not run (Telegram users
    while only WhatsApp is configured): their messages wait, they are not sent elsewhere."""

    async def send(self, user: User, reply: Reply) -> str | None:
        raise RetryLater(3600.0)
