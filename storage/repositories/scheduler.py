"""The scheduler's repository: set-based reads for planning, bulk inserts into the outbox,
claiming due messages (row locks on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), programme
holidays and the nudge report. It never commits."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import and_, case, delete, false, func, insert, or_, select, text, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Group,
    Membership,
    OutboxMessage,
    PlanningRun,
    PlanningState,
    Preferences,
    ProgrammeHoliday,
    Signal,
    User,
)
from storage.risk_summary import summarise

#: Users the scheduler never plans for.
NOT_PLANNED = ("left", "unreachable", "declined")


@dataclass(frozen=True, slots=True)
class LearnerPrefs:
    """A learner's preferences as plain data (the planner reads many at once)."""

    user_id: int
    goal_weekday: int = 0
    preferred_time: str = "18:00"
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    days_off: tuple[int, ...] = ()
    pace: str = "normal"
    paused_until: datetime | None = None
    paused_indefinitely: bool = False
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    """An outbox row the planner wants, as plain data for a bulk insert."""

    user_id: int
    kind: str
    dedup_key: str
    due_at: datetime
    payload: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None = None
    status: str = "pending"
    variant: str | None = None
    scheduled: bool = True

    def as_row(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "kind": self.kind,
            "dedup_key": self.dedup_key,
            "due_at": self.due_at,
            "payload": self.payload,
            "expires_at": self.expires_at,
            "status": self.status,
            "variant": self.variant,
            "scheduled": self.scheduled,
            "attempts": 0,
            "created_at": self.created_at,
            "about_user_id": self.about_user_id,
        }

    @property
    def about_user_id(self) -> int | None:
        """The learner a coach notice is about (`meta.learner_id`), so it is erased with them."""
        about = (self.payload.get("meta") or {}).get("learner_id")
        return about if isinstance(about, int) and about != self.user_id else None

    def model(self) -> OutboxMessage:
        return OutboxMessage(
            user_id=self.user_id,
            kind=self.kind,
            dedup_key=self.dedup_key,
            due_at=self.due_at,
            payload=self.payload,
            expires_at=self.expires_at,
            status=self.status,
            variant=self.variant,
            created_at=self.created_at,
            about_user_id=self.about_user_id,
            scheduled=self.scheduled,
        )


@dataclass(frozen=True, slots=True)
class LearnerInfo:
    """What the planner needs of one learner: a few user fields and their preferences."""

    id: int
    language: str
    created_at: datetime
    consent_at: datetime | None
    last_seen_at: datetime | None
    status: str
    prefs: LearnerPrefs
    display_name: str | None = None
    planning_version: int = 0  # of their `PlanningState`, as read


@dataclass(frozen=True, slots=True)
class SignalInfo:
    user_id: int
    kind: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SentRow:
    """An outbox message recorded as sent."""

    id: int
    user_id: int
    kind: str
    variant: str | None


@dataclass(frozen=True)
class ReportRow:
    """One line of the nudge report: a kind and variant with its counts."""

    kind: str
    variant: str
    planned: int
    sent: int
    answered: int
    held: int
    held_active: int


class SchedulerRepository(Protocol):
    async def learners(
        self, *, after_id: int, limit: int, due_on: date | None = None
    ) -> list[LearnerInfo]: ...
    async def set_planning_days(self, days: Sequence[tuple[int, date, int]]) -> None: ...
    async def signals_of(
        self, user_ids: Collection[int], *, since: datetime, kinds: Collection[str]
    ) -> list[SignalInfo]: ...
    async def coaches_of(self, user_ids: Collection[int]) -> dict[int, int]: ...
    async def preferences_of(self, user_ids: Collection[int]) -> dict[int, LearnerPrefs]: ...
    async def nudge_counts(
        self,
        user_ids: Collection[int],
        *,
        start: datetime,
        end: datetime,
        kinds: Collection[str],
    ) -> dict[int, int]: ...
    async def planned_nudges(
        self,
        user_ids: Collection[int],
        *,
        start: datetime,
        kinds: Collection[str],
        lingering: Collection[str] = (),
        lingering_since: datetime | None = None,
    ) -> dict[int, dict[str, datetime | None]]: ...
    async def notices_about(
        self, user_ids: Collection[int], *, kinds: Collection[str]
    ) -> dict[int, set[str]]: ...
    async def insert_planned(self, messages: Sequence[Planned]) -> int: ...
    async def add_signals(self, signals: Sequence[SignalInfo]) -> None: ...
    async def holidays(self, *, start: date, end: date) -> list[ProgrammeHoliday]: ...
    async def add_holiday(self, holiday: ProgrammeHoliday) -> bool: ...
    async def remove_holiday(self, day: date) -> bool: ...
    async def recover_claims(self, *, claimed_before: datetime) -> int: ...
    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        user_ids: Collection[int] | None = None,
        scheduled_last: bool = False,
    ) -> list[OutboxMessage]: ...
    async def release_held(self, *, now: datetime) -> int: ...
    async def work_waiting(
        self,
        *,
        now: datetime,
        claimed_before: datetime,
        user_ids: Collection[int] | None = None,
    ) -> bool: ...
    async def messages(self, ids: Collection[int]) -> list[OutboxMessage]: ...
    async def mark_sent(
        self, refs: Mapping[int, str | None], *, now: datetime
    ) -> list[SentRow]: ...
    async def mark_nudged(self, user_ids: Collection[int], *, now: datetime) -> None: ...
    async def recipients(
        self, user_ids: Collection[int]
    ) -> dict[int, tuple[User, Preferences | None]]: ...
    async def end_pauses(self, *, now: datetime) -> list[int]: ...
    async def last_round(self) -> tuple[date, str] | None: ...
    async def record_round(self, *, day: date, fingerprint: str, at: datetime) -> None: ...
    async def report(self, *, kinds: Collection[str]) -> list[ReportRow]: ...


def _id_range(column: Any, user_ids: Collection[int]) -> list[Any]:
    """Conditions for a batch of user ids: a range when they fill most of it (cheap: a
    full round's batches are ranges), so rows of other users inside it may come back, and
    callers look rows up by id; the ids themselves when they are sparse (a round that reads
    only the learners due)."""
    if not user_ids:
        return [column.is_(None)]
    low, high = min(user_ids), max(user_ids)
    if len(user_ids) * 4 >= (high - low + 1) * 3:
        return [column >= low, column <= high]
    return [column.in_(list(user_ids))]


def _preference_columns() -> tuple[Any, ...]:
    """The columns `_prefs` reads, for queries joined to the preferences."""
    p = Preferences.__table__.c
    return (
        p.user_id.label("p_user_id"),
        p.goal_weekday,
        p.preferred_time,
        p.quiet_start,
        p.quiet_end,
        p.days_off,
        p.pace,
        p.paused_until,
        p.paused_indefinitely,
        p.timezone,
    )


def _prefs(user_id: int, values: Sequence[Any]) -> LearnerPrefs:
    """A user's preferences from the values of `_preference_columns` (all None when they set
    none: the defaults)."""
    (
        p_user_id,
        goal_weekday,
        preferred_time,
        quiet_start,
        quiet_end,
        days_off,
        pace,
        paused_until,
        paused_indefinitely,
        timezone,
    ) = values
    if p_user_id is None:
        return LearnerPrefs(user_id=user_id)
    return LearnerPrefs(
        user_id=p_user_id,
        goal_weekday=goal_weekday,
        preferred_time=preferred_time,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        days_off=tuple(days_off or ()),
        pace=pace,
        paused_until=paused_until,
        paused_indefinitely=paused_indefinitely,
        timezone=timezone,
    )


class SqlSchedulerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def _plan_for_these_ids(self) -> None:
        """On PostgreSQL, has the rest of this transaction plan each statement for its own
        values. A planning batch names up to 2,000 ids; after five runs of the same statement
        asyncpg's prepared statement gets PostgreSQL's generic plan, which (for the weekly
        counts) scans the outbox by due time and compares each row with every id: 1.5 to
        2.4 s a batch at 20,000 learners, 20 ms with the ids known."""
        if self._dialect == "postgresql":
            await self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def learners(
        self, *, after_id: int, limit: int, due_on: date | None = None
    ) -> list[LearnerInfo]:
        """Consented learners who can be reached, by id, in batches; with `due_on`, only
        those whose planning day (`PlanningState`) is that day or earlier, or not set."""
        p = Preferences.__table__.c
        u = User.__table__.c
        state = PlanningState.__table__.c
        query = (
            select(
                u.id,
                u.language,
                u.created_at,
                u.consent_at,
                u.last_seen_at,
                u.status,
                u.display_name,
                state.version,
                *_preference_columns(),
            )
            .select_from(
                User.__table__.outerjoin(Preferences.__table__, p.user_id == u.id).outerjoin(
                    PlanningState.__table__, state.user_id == u.id
                )
            )
            .where(
                u.role == "learner",
                u.consent_version.is_not(None),
                u.status.not_in(NOT_PLANNED),
                u.id > after_id,
            )
            .order_by(u.id)
            .limit(limit)
        )
        if due_on is not None:
            query = query.where(or_(state.plan_on.is_(None), state.plan_on <= due_on))
        # (Rows unpacked as tuples, not read by name: a round reads a few hundred thousand.)
        rows = (await self.session.execute(query)).all()
        return [
            LearnerInfo(
                id=uid,
                language=language,
                created_at=created_at,
                consent_at=consent_at,
                last_seen_at=last_seen_at,
                status=status,
                prefs=_prefs(uid, prefs),
                display_name=display_name,
                planning_version=version or 0,
            )
            for (
                uid,
                language,
                created_at,
                consent_at,
                last_seen_at,
                status,
                display_name,
                version,
                *prefs,
            ) in rows
        ]

    async def set_planning_days(self, days: Sequence[tuple[int, date, int]]) -> None:
        """Records (learner, next planning day, version read) where the version is still
        the one read: a learner whose inputs changed meanwhile stays due."""
        if not days:
            return
        table: Any = PlanningState.__table__
        insert_: Any = pg_insert if self._dialect == "postgresql" else sqlite_insert
        statement = insert_(table)
        statement = statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"plan_on": statement.excluded.plan_on},
            where=table.c.version == statement.excluded.version,
        )
        await self.session.execute(
            statement,
            [{"user_id": uid, "plan_on": day, "version": version} for uid, day, version in days],
        )

    async def signals_of(
        self, user_ids: Collection[int], *, since: datetime, kinds: Collection[str]
    ) -> list[SignalInfo]:
        await self._plan_for_these_ids()
        s = Signal.__table__.c
        query = (
            select(s.user_id, s.kind, s.at, s.details)
            .where(*_id_range(s.user_id, user_ids), s.at >= since, s.kind.in_(list(kinds)))
            .order_by(s.at, s.id)
        )
        rows = (await self.session.execute(query)).all()
        return [SignalInfo(uid, kind, at, dict(details or {})) for uid, kind, at, details in rows]

    async def coaches_of(self, user_ids: Collection[int]) -> dict[int, int]:
        await self._plan_for_these_ids()
        query = (
            select(Membership.learner_id, Group.coach_id)
            .join(Group, Group.id == Membership.group_id)
            .where(*_id_range(Membership.learner_id, user_ids), Membership.left_at.is_(None))
        )
        return dict((await self.session.execute(query)).all())

    async def preferences_of(self, user_ids: Collection[int]) -> dict[int, LearnerPrefs]:
        """The preferences of a few users (the coaches of a planning batch), where set."""
        if not user_ids:
            return {}
        await self._plan_for_these_ids()
        p = Preferences.__table__.c
        query = select(
            p.user_id.label("id"),
            *_preference_columns(),
        ).where(p.user_id.in_(list(user_ids)))
        rows = (await self.session.execute(query)).all()
        return {uid: _prefs(uid, prefs) for uid, *prefs in rows}

    async def nudge_counts(
        self,
        user_ids: Collection[int],
        *,
        start: datetime,
        end: datetime,
        kinds: Collection[str],
    ) -> dict[int, int]:
        """Nudges per learner due in [start, end), whatever became of them."""
        await self._plan_for_these_ids()
        o = OutboxMessage.__table__.c
        query = (
            select(o.user_id, func.count())
            .where(
                *_id_range(o.user_id, user_ids),
                o.kind.in_(list(kinds)),
                o.due_at >= start,
                o.due_at < end,
                o.status.not_in(("cancelled", "held")),
            )
            .group_by(o.user_id)
        )
        return {row[0]: row[1] for row in (await self.session.execute(query)).all()}

    async def planned_nudges(
        self,
        user_ids: Collection[int],
        *,
        start: datetime,
        kinds: Collection[str],
        lingering: Collection[str] = (),
        lingering_since: datetime | None = None,
    ) -> dict[int, dict[str, datetime | None]]:
        """Per learner, the nudges due from `start` on (from `lingering_since` for the
        `lingering` kinds), by dedup key: the due time of those still to go, None for the
        others (cancelled, held, failed), whose key is taken but not their day."""
        await self._plan_for_these_ids()
        o = OutboxMessage.__table__.c
        window = o.due_at >= start
        if lingering and lingering_since is not None:
            window = or_(window, and_(o.kind.in_(list(lingering)), o.due_at >= lingering_since))
        # The status is checked here, not in SQL: with it in the WHERE clause SQLite (which
        # has no statistics) takes the (status, due_at) index and reads every pending row of
        # everyone for each batch, so that planning grows with the square of the learners.
        query = select(o.user_id, o.dedup_key, o.due_at, o.status).where(
            *_id_range(o.user_id, user_ids), o.kind.in_(list(kinds)), window
        )
        found: dict[int, dict[str, datetime | None]] = {}
        for uid, key, due_at, status in (await self.session.execute(query)).all():
            due: datetime | None = None
            if status in ("pending", "claimed", "sent"):
                due = due_at if due_at.tzinfo else due_at.replace(tzinfo=UTC)
            found.setdefault(uid, {})[key] = due
        return found

    async def notices_about(
        self, user_ids: Collection[int], *, kinds: Collection[str]
    ) -> dict[int, set[str]]:
        """Per learner, the dedup keys of the coach notices about them, whatever became of
        them: a key that is there cannot be planned again (the keys are unique)."""
        await self._plan_for_these_ids()
        o = OutboxMessage.__table__.c
        query = select(o.about_user_id, o.dedup_key).where(
            *_id_range(o.about_user_id, user_ids), o.kind.in_(list(kinds))
        )
        found: dict[int, set[str]] = {}
        for uid, key in (await self.session.execute(query)).all():
            found.setdefault(uid, set()).add(key)
        return found

    async def insert_planned(self, messages: Sequence[Planned]) -> int:
        """Inserts messages whose dedup key is new; returns how many were inserted."""
        if not messages:
            return 0
        rows = [m.as_row() for m in messages]
        table: Any = OutboxMessage.__table__
        if self._dialect == "postgresql":
            statement: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["dedup_key"])
            inserted = 0
            for start in range(0, len(rows), 2000):
                result = await self.session.execute(
                    statement.returning(table.c.id), rows[start : start + 2000]
                )
                inserted += len(result.all())
            return inserted
        # SQLite counts the rows an executemany inserted (those refused count 0); with
        # RETURNING the same insert costs three times as much.
        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=["dedup_key"])
        result = await self.session.execute(statement, rows)
        return int(getattr(result, "rowcount", 0))

    async def add_signals(self, signals: Sequence[SignalInfo]) -> None:
        """Records many signals in one statement."""
        if signals:
            await self.session.execute(
                insert(Signal),
                [
                    {"user_id": s.user_id, "kind": s.kind, "at": s.at, "details": s.details}
                    for s in signals
                ],
            )
            await summarise(self.session, [(s.user_id, s.kind, s.at, s.details) for s in signals])

    async def holidays(self, *, start: date, end: date) -> list[ProgrammeHoliday]:
        query = (
            select(ProgrammeHoliday)
            .where(ProgrammeHoliday.day >= start, ProgrammeHoliday.day <= end)
            .order_by(ProgrammeHoliday.day)
        )
        return list(await self.session.scalars(query))

    async def add_holiday(self, holiday: ProgrammeHoliday) -> bool:
        """Adds a programme holiday; False when that day is one already."""
        found = await self.session.scalar(
            select(ProgrammeHoliday.id).where(ProgrammeHoliday.day == holiday.day)
        )
        if found is not None:
            return False
        self.session.add(holiday)
        await self.session.flush()
        return True

    async def remove_holiday(self, day: date) -> bool:
        result = await self.session.execute(
            delete(ProgrammeHoliday).where(ProgrammeHoliday.day == day)
        )
        return bool(getattr(result, "rowcount", 0))

    async def recover_claims(self, *, claimed_before: datetime) -> int:
        """Claims older than the lease have an unknown outcome: never resent blindly."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "claimed", OutboxMessage.claimed_at < claimed_before)
            .values(status="unknown", error="claim expired: outcome unknown")
        )
        return int(getattr(result, "rowcount", 0))

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        user_ids: Collection[int] | None = None,
        scheduled_last: bool = False,
    ) -> list[OutboxMessage]:
        """Locks due pending messages, oldest first; with `scheduled_last`, what the
        scheduler planned after what people wrote. Other dispatchers skip them."""
        o = OutboxMessage
        # Two index-ordered reads (status, scheduled, due_at) that stop at the limit: a
        # seek each, however many planned nudges of a morning backlog are due.
        parts: list[Any] = (
            [o.scheduled == false(), o.scheduled == true()] if scheduled_last else [None]
        )
        found: list[OutboxMessage] = []
        for part in parts:
            query = (
                select(o)
                .where(o.status == "pending", o.due_at <= now)
                .order_by(o.due_at, o.id)
                .limit(limit - len(found))
            )
            if part is not None:
                query = query.where(part)
            if user_ids is not None:
                query = query.where(OutboxMessage.user_id.in_(list(user_ids)))
            if self._dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found += list(await self.session.scalars(query))
            if len(found) >= limit:
                break
        return found

    async def work_waiting(
        self,
        *,
        now: datetime,
        claimed_before: datetime,
        user_ids: Collection[int] | None = None,
    ) -> bool:
        """Whether a dispatch round has anything to do: a due message, a due held one, or a
        claim older than the lease. Three index seeks; reads only."""
        o = OutboxMessage.__table__.c
        scope = [] if user_ids is None else [o.user_id.in_(list(user_ids))]
        conditions = [
            and_(o.status == "pending", o.due_at <= now),
            and_(o.status == "claimed", o.claimed_at < claimed_before),
        ]
        if user_ids is None:
            conditions.append(and_(o.status == "held", o.claimed_at.is_(None), o.due_at <= now))
        for condition in conditions:
            found = await self.session.scalar(select(o.id).where(condition, *scope).limit(1))
            if found is not None:
                return True
        return False

    async def release_held(self, *, now: datetime) -> int:
        """Held (holdout) messages that fell due count as "nudged" for the answer window."""
        o = OutboxMessage.__table__.c
        due = (
            select(o.id, o.user_id)
            .where(o.status == "held", o.claimed_at.is_(None), o.due_at <= now)
            .limit(1000)
        )
        rows = (await self.session.execute(due)).all()
        if not rows:
            return 0
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([r.id for r in rows]))
            .values(claimed_at=now)
        )
        await self.session.execute(
            update(User).where(User.id.in_({r.user_id for r in rows})).values(nudged_at=now)
        )
        return len(rows)

    async def messages(self, ids: Collection[int]) -> list[OutboxMessage]:
        query = select(OutboxMessage).where(OutboxMessage.id.in_(list(ids)))
        return list(await self.session.scalars(query.order_by(OutboxMessage.id)))

    async def mark_sent(self, refs: Mapping[int, str | None], *, now: datetime) -> list[SentRow]:
        """Records the messages `refs` names as sent (with the channel's message id), in
        one statement; returns those still there (a learner erased meanwhile takes theirs)."""
        if not refs:
            return []
        table: Any = OutboxMessage.__table__
        o = table.c
        named = {key: ref for key, ref in refs.items() if ref is not None}
        statement = (
            update(table)
            .where(o.id.in_(list(refs)))
            .values(
                status="sent",
                sent_at=now,
                error=None,
                channel_message_id=case(named, value=o.id, else_=None) if named else None,
            )
            .returning(o.id, o.user_id, o.kind, o.variant)
        )
        rows = await self.session.execute(statement)
        return [SentRow(*row) for row in rows]

    async def mark_nudged(self, user_ids: Collection[int], *, now: datetime) -> None:
        """The learners got a nudge now: their answer window starts."""
        if user_ids:
            table: Any = User.__table__
            await self.session.execute(
                update(table).where(table.c.id.in_(sorted(set(user_ids)))).values(nudged_at=now)
            )

    async def last_round(self) -> tuple[date, str] | None:
        """The programme day and fingerprint of the last planning round that finished."""
        row = (
            await self.session.execute(
                select(PlanningRun.planned_on, PlanningRun.fingerprint).where(PlanningRun.id == 1)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def record_round(self, *, day: date, fingerprint: str, at: datetime) -> None:
        """Records a planning round that finished (one row, written over)."""
        values = {"planned_on": day, "fingerprint": fingerprint, "finished_at": at}
        insert_: Any = pg_insert if self._dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            insert_(PlanningRun)
            .values(id=1, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values)
        )

    async def end_pauses(self, *, now: datetime) -> list[int]:
        """Learners whose pause ran out are active again; returns their ids."""
        query = (
            select(User.id)
            .join(Preferences, Preferences.user_id == User.id)
            .where(
                User.status == "paused",
                Preferences.paused_indefinitely.is_(False),
                or_(Preferences.paused_until.is_(None), Preferences.paused_until <= now),
            )
        )
        ids = list(await self.session.scalars(query))
        if ids:
            await self.session.execute(
                update(User).where(User.id.in_(ids)).values(status="active")
            )
        return ids

    async def recipients(
        self, user_ids: Collection[int]
    ) -> dict[int, tuple[User, Preferences | None]]:
        """Users with their preferences, in two queries."""
        ids = list(set(user_ids))
        if not ids:
            return {}
        users = await self.session.scalars(select(User).where(User.id.in_(ids)))
        prefs = {
            p.user_id: p
            for p in await self.session.scalars(
                select(Preferences).where(Preferences.user_id.in_(ids))
            )
        }
        return {user.id: (user, prefs.get(user.id)) for user in users}

    async def report(self, *, kinds: Collection[str]) -> list[ReportRow]:
        o = OutboxMessage.__table__.c
        sent = o.status == "sent"
        held = o.status == "held"
        answered = and_(sent, o.answered_at.is_not(None))
        held_active = and_(held, o.answered_at.is_not(None))
        query = (
            select(
                o.kind,
                o.variant,
                func.count(),
                func.sum(case((sent, 1), else_=0)),
                func.sum(case((answered, 1), else_=0)),
                func.sum(case((held, 1), else_=0)),
                func.sum(case((held_active, 1), else_=0)),
            )
            .where(o.kind.in_(list(kinds)))
            .group_by(o.kind, o.variant)
        )
        rows = [
            ReportRow(str(r[0]), str(r[1] or "-"), *(int(v or 0) for v in r[2:]))
            for r in (await self.session.execute(query)).all()
        ]
        return sorted(rows, key=lambda row: (row.kind, row.variant))
