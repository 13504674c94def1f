"""Repositories of the coach workspace: invitations, the access log, sessions, prompts, and
the set-based queries of the risk view and the group statistics."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, case, desc, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    CoachInvite,
    CoachInviteFailure,
    Group,
    GroupPrompt,
    GroupSession,
    Membership,
    OutboxMessage,
    PromptAnswer,
    RiskSnooze,
    RiskSummary,
    Signal,
    User,
)
from storage.risk_summary import (
    COUNTED_BARRIERS,
    LAST_COLUMNS,
    NEWEST_MISSED,
    missed_since,
    stamp,
)


@dataclass
class LearnerFacts:
    """What the risk view knows of one learner: who, where, and their recent signals."""

    learner_id: int
    name: str | None
    status: str
    last_seen_at: datetime | None
    group_id: int
    group_name: str
    snoozed_until: datetime | None = None
    last: dict[str, datetime] = field(default_factory=dict)  # the last signal of each kind
    missed_in_a_row: int = 0  # goals missed in the window since the last one (partly) reached
    barriers: list[str] = field(default_factory=list)
    #: The score the database gave them, when it ordered the list (`risk_page`).
    score: int | None = None


@dataclass(frozen=True)
class RiskRules:
    """The risk score's rules as plain data (flows/coach/risk.py owns them), so that the
    database can order a coach's learners by score without loading them all."""

    weights: Mapping[str, int]
    #: The barrier ids that count.
    barriers: tuple[str, ...]
    silent: timedelta = timedelta(days=7)
    silent_long: timedelta = timedelta(days=14)
    recent: timedelta = timedelta(days=14)
    contact: timedelta = timedelta(days=7)
    window: timedelta = timedelta(days=28)


class CoachInviteRepository(Protocol):
    async def add(self, invite: CoachInvite) -> CoachInvite: ...
    async def by_hash(self, code_hash: str) -> CoachInvite | None: ...
    async def add_failure(self, failure: CoachInviteFailure) -> None: ...
    async def failures_since(self, *, user_id: int, since: datetime) -> int: ...


class SessionRepository(Protocol):
    async def add(self, session: GroupSession) -> GroupSession: ...
    async def get(self, session_id: int) -> GroupSession | None: ...
    async def of_group(self, group_id: int) -> list[GroupSession]: ...


class PromptRepository(Protocol):
    async def add(self, prompt: GroupPrompt) -> GroupPrompt: ...
    async def get(self, prompt_id: int) -> GroupPrompt | None: ...
    async def of_group(self, group_id: int) -> list[GroupPrompt]: ...
    async def add_answer(self, answer: PromptAnswer) -> PromptAnswer: ...
    async def answers(self, prompt_id: int) -> list[PromptAnswer]: ...


class CoachingRepository(Protocol):
    async def risk_facts(
        self,
        *,
        coach_id: int,
        since: datetime,
        kinds: Sequence[str],
        learner_ids: Collection[int] | None = None,
    ) -> list[LearnerFacts]: ...
    async def risk_page(
        self, *, coach_id: int, now: datetime, rules: RiskRules, offset: int, limit: int
    ) -> tuple[list[LearnerFacts], bool]: ...
    async def has_learners(self, *, coach_id: int) -> bool: ...
    async def snooze(self, *, learner_id: int, coach_id: int, until: datetime) -> None: ...
    async def members(
        self, group_id: int, *, include_left: bool = False
    ) -> list[tuple[Membership, User]]: ...
    async def signal_counts(self, *, group_id: int) -> dict[str, int]: ...
    async def signal_times(self, *, group_id: int, kinds: tuple[str, ...]) -> list[datetime]: ...
    async def learners_with(self, *, group_id: int, kind: str) -> int: ...
    async def outbox_of(self, user_id: int, *, limit: int = 20) -> list[OutboxMessage]: ...
    async def all_groups(self) -> list[Group]: ...
    async def group_named(self, name: str) -> Group | None: ...


class _Sql:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class SqlCoachInviteRepository(_Sql):
    async def add(self, invite: CoachInvite) -> CoachInvite:
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def by_hash(self, code_hash: str) -> CoachInvite | None:
        query = select(CoachInvite).where(CoachInvite.code_hash == code_hash)
        return (await self.session.scalars(query)).one_or_none()

    async def add_failure(self, failure: CoachInviteFailure) -> None:
        self.session.add(failure)

    async def failures_since(self, *, user_id: int, since: datetime) -> int:
        query = select(func.count()).where(
            CoachInviteFailure.user_id == user_id, CoachInviteFailure.at >= since
        )
        return int(await self.session.scalar(query) or 0)


class SqlSessionRepository(_Sql):
    async def add(self, session: GroupSession) -> GroupSession:
        self.session.add(session)
        await self.session.flush()
        return session

    async def get(self, session_id: int) -> GroupSession | None:
        return await self.session.get(GroupSession, session_id)

    async def of_group(self, group_id: int) -> list[GroupSession]:
        query = (
            select(GroupSession)
            .where(GroupSession.group_id == group_id)
            .order_by(GroupSession.starts_at, GroupSession.id)
        )
        return list(await self.session.scalars(query))


class SqlPromptRepository(_Sql):
    async def add(self, prompt: GroupPrompt) -> GroupPrompt:
        self.session.add(prompt)
        await self.session.flush()
        return prompt

    async def get(self, prompt_id: int) -> GroupPrompt | None:
        return await self.session.get(GroupPrompt, prompt_id)

    async def of_group(self, group_id: int) -> list[GroupPrompt]:
        query = select(GroupPrompt).where(GroupPrompt.group_id == group_id)
        return list(await self.session.scalars(query.order_by(GroupPrompt.id)))

    async def add_answer(self, answer: PromptAnswer) -> PromptAnswer:
        self.session.add(answer)
        await self.session.flush()
        return answer

    async def answers(self, prompt_id: int) -> list[PromptAnswer]:
        query = select(PromptAnswer).where(PromptAnswer.prompt_id == prompt_id)
        return list(await self.session.scalars(query.order_by(PromptAnswer.id)))


class SqlCoachingRepository(_Sql):
    def _active_of(self, coach_id: int):  # type: ignore[no-untyped-def]
        """The active memberships in the coach's groups, as a subquery of learner ids."""
        return (
            select(Membership.learner_id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.coach_id == coach_id, Membership.left_at.is_(None))
            .scalar_subquery()
        )

    async def risk_facts(
        self,
        *,
        coach_id: int,
        since: datetime,
        kinds: Sequence[str],
        learner_ids: Collection[int] | None = None,
    ) -> list[LearnerFacts]:
        """Every active learner of the coach (or those of `learner_ids`), with the last
        signal of each of `kinds`, the goals missed in a row since `since` and the intake
        barriers.

        One query, one row per learner: the learner's risk summary (`storage.risk_summary`,
        kept up to date with every signal) joined to their membership, so no signal is read.
        """
        unknown = [kind for kind in kinds if kind not in LAST_COLUMNS]
        if unknown:
            raise ValueError(f"the risk summary keeps no last time of {unknown}")
        lasts = [getattr(RiskSummary, LAST_COLUMNS[kind]) for kind in kinds]
        query = (
            select(
                User.id,
                User.display_name,
                User.status,
                User.last_seen_at,
                Group.id,
                Group.name,
                RiskSnooze.until,
                RiskSummary.missed,
                RiskSummary.barriers,
                *lasts,
            )
            .select_from(Membership)
            .join(Group, Group.id == Membership.group_id)
            .join(User, User.id == Membership.learner_id)
            .outerjoin(RiskSnooze, RiskSnooze.learner_id == User.id)
            .outerjoin(RiskSummary, RiskSummary.user_id == User.id)
            .where(Group.coach_id == coach_id, Membership.left_at.is_(None))
        )
        if learner_ids is not None:
            query = query.where(Membership.learner_id.in_(sorted(learner_ids)))
        # Plain rows through the connection: no ORM loading for 10,000 tuples. The raw
        # connection does not autoflush: contacts and snoozes of this update must count.
        await self.session.flush()
        connection = await self.session.connection()
        facts = []
        for row in await connection.execute(query):
            fact = LearnerFacts(
                learner_id=row[0],
                name=row[1],
                status=row[2],
                last_seen_at=row[3],
                group_id=row[4],
                group_name=row[5],
                snoozed_until=row[6],
                missed_in_a_row=missed_since(row[7], since) if row[7] else 0,
            )
            for barrier_id in (row[8] or "").split():
                if barrier_id not in fact.barriers:
                    fact.barriers.append(barrier_id)
            for kind, last in zip(kinds, row[9:], strict=True):
                if last is not None:
                    fact.last[kind] = _aware(last)
            facts.append(fact)
        return facts

    async def risk_page(
        self, *, coach_id: int, now: datetime, rules: RiskRules, offset: int, limit: int
    ) -> tuple[list[LearnerFacts], bool]:
        """One page of the coach's active learners in risk order (snoozed last, highest
        score first, longest silent first, then by id), and whether more follow.

        The database scores every learner from their summary with the rules of
        `flows.coach.risk.assess` (the tests compare the two) and keeps the top of the list
        (a sorter of `offset + limit + 1` rows); only the page is loaded, with its facts.
        Scoring is plain comparisons of each row's columns with bound times: the three
        newest missed goals and the number of counted barriers are columns of the summary
        (derived whenever it changes). Rules that need more missed goals read them as fixed
        slices from the end of the summary's text (its stamps have a fixed width); rules
        that count other barriers search the text for each as a whole word.
        """
        w = rules.weights
        r = RiskSummary
        connection = await self.session.connection()
        postgres = connection.dialect.name == "postgresql"
        find = func.strpos if postgres else func.instr
        # Two-argument min and max (SQLite's scalar min/max, PostgreSQL's LEAST/GREATEST).
        least = func.least if postgres else func.min
        greatest = func.greatest if postgres else func.max
        now = now.astimezone(UTC)

        def when(condition: Any, weight: int) -> Any:
            return case((condition, weight), else_=0)

        since = stamp(now - rules.window)
        length = func.length(r.missed)

        def newest(k: int) -> Any:
            """The k-th newest missed goal (26 characters and a space each), or ''/NULL."""
            if postgres:
                return case((length >= 27 * k - 1, func.substr(r.missed, length - 27 * k + 2, 26)))
            return func.substr(r.missed, 1 - 27 * k, 26)  # from the end; '' before the start

        def newest_at(k: int) -> Any:
            """The k-th newest missed goal as a time: a column while the summary keeps one,
            beyond that a comparable slice of the text."""
            if k <= len(NEWEST_MISSED):
                return getattr(r, NEWEST_MISSED[k - 1]) >= now - rules.window
            return newest(k) >= since

        # Nested: the older ones are only looked at when the newer one is in the window.
        streak: Any = literal(0)
        for k in range(w["goal_missed_max"] // w["goal_missed"], 0, -1):
            streak = case((newest_at(k), 1 + streak), else_=0)
        never = datetime(1, 1, 1, tzinfo=UTC)  # before any signal, for a missing one
        padded = literal(" ") + r.barriers + literal(" ")
        found = [
            when(and_(find(r.barriers, b) > 0, find(padded, f" {b} ") > 0), 1)
            for b in rules.barriers
        ]
        if set(rules.barriers) == COUNTED_BARRIERS:
            # The summary counted them when they were named.
            barrier_weight = w["barrier"] * least(
                func.coalesce(r.barrier_count, 0), w["barrier_max"]
            )
        elif found:
            # Most learners name no barrier or one: those need no search.
            barrier_weight = w["barrier"] * case(
                (or_(r.barriers.is_(None), r.barriers == ""), 0),
                (r.barriers.in_(rules.barriers), 1),
                else_=least(sum(found[1:], found[0]), w["barrier_max"]),
            )
        else:
            barrier_weight = literal(0)
        score = (
            case({"unreachable": w["blocked"], "paused": w["paused"]}, value=User.status, else_=0)
            + case(
                (User.last_seen_at <= now - rules.silent_long, w["silent_long"]),
                (User.last_seen_at <= now - rules.silent, w["silent"]),
                else_=0,
            )
            + w["goal_missed"] * streak
            + when(
                r.last_session_absent > func.coalesce(r.last_session_present, never),
                w["session_absent"],
            )
            + when(
                r.last_asked_for_coach > func.coalesce(r.last_coach_contact, never),
                w["asked_for_coach"],
            )
            + when(r.last_checkin_no_time >= now - rules.recent, w["no_time"])
            + when(r.last_checkin_stuck >= now - rules.recent, w["stuck"])
            + barrier_weight
            + when(r.last_coach_contact > now - rules.contact, w["recent_contact"])
        )
        snoozed = case((RiskSnooze.until > now, 1), else_=0)
        # The coach's learners first: PostgreSQL would otherwise sort everyone's summary
        # in the hope of finding the page's learners early (a plan that takes 1 s at
        # 100,000 learners of 200,000).
        mine = (
            select(Membership.learner_id, Membership.group_id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.coach_id == coach_id, Membership.left_at.is_(None))
            .cte("mine")
        )
        if postgres:
            mine = mine.prefix_with("MATERIALIZED")
        # Ordered by the label: the expression a second time would be computed twice.
        scored = greatest(score, 0).label("score")
        query = (
            select(mine.c.learner_id, mine.c.group_id, scored)
            .select_from(mine)
            .join(User, User.id == mine.c.learner_id)
            .outerjoin(RiskSnooze, RiskSnooze.learner_id == User.id)
            .outerjoin(r, r.user_id == User.id)
            .order_by(
                snoozed,
                desc(scored.name),
                User.last_seen_at.asc().nulls_first(),
                mine.c.learner_id,
                mine.c.group_id,
            )
            .offset(offset)
            .limit(limit + 1)
        )
        await self.session.flush()  # contacts and snoozes of this update count
        if postgres:
            # PostgreSQL hashes all users and summaries (twice the coach's learners, spilling
            # to disk at the default work_mem) where merge joins along the primary keys take
            # a third of the time (0.5 s against 0.2 s at 100,000 learners). Only for this
            # statement: the setting is restored in the transaction right after it.
            hashjoin = await connection.scalar(select(func.current_setting("enable_hashjoin")))
            await connection.execute(select(func.set_config("enable_hashjoin", "off", True)))
            try:
                rows = (await connection.execute(query)).all()
            finally:
                await connection.execute(
                    select(func.set_config("enable_hashjoin", hashjoin, True))
                )
        else:
            rows = (await connection.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        if not rows:
            return [], more
        facts = await self.risk_facts(
            coach_id=coach_id,
            since=now - rules.window,
            kinds=tuple(LAST_COLUMNS),
            learner_ids={row[0] for row in rows},
        )
        by_place = {(f.learner_id, f.group_id): f for f in facts}
        page = []
        for learner_id, group_id, points in rows:
            fact = by_place[(learner_id, group_id)]
            fact.score = int(points)
            page.append(fact)
        return page, more

    async def has_learners(self, *, coach_id: int) -> bool:
        """Whether the coach has an active learner in one of their groups."""
        active = (
            select(Membership.id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.coach_id == coach_id, Membership.left_at.is_(None))
        )
        query = select(active.exists())
        return bool(await self.session.scalar(query))

    async def snooze(self, *, learner_id: int, coach_id: int, until: datetime) -> None:
        existing = await self.session.get(RiskSnooze, learner_id)
        if existing is None:
            self.session.add(RiskSnooze(learner_id=learner_id, coach_id=coach_id, until=until))
        else:
            existing.coach_id, existing.until = coach_id, until

    async def members(
        self, group_id: int, *, include_left: bool = False
    ) -> list[tuple[Membership, User]]:
        query = (
            select(Membership, User)
            .join(User, User.id == Membership.learner_id)
            .where(Membership.group_id == group_id)
            .order_by(Membership.id)
        )
        if not include_left:
            query = query.where(Membership.left_at.is_(None))
        return [(m, u) for m, u in await self.session.execute(query)]

    def _group_signals(self, group_id: int):  # type: ignore[no-untyped-def]
        """Signals of learners while they were members of the group."""
        return (
            select(Signal)
            .join(Membership, Membership.learner_id == Signal.user_id)
            .where(
                Membership.group_id == group_id,
                Signal.at >= Membership.joined_at,
                or_(Membership.left_at.is_(None), Signal.at <= Membership.left_at),
            )
        )

    async def signal_counts(self, *, group_id: int) -> dict[str, int]:
        inner = self._group_signals(group_id).with_only_columns(Signal.kind).subquery()
        query = select(inner.c.kind, func.count()).group_by(inner.c.kind)
        return {kind: int(count) for kind, count in await self.session.execute(query)}

    async def signal_times(self, *, group_id: int, kinds: tuple[str, ...]) -> list[datetime]:
        query = self._group_signals(group_id).with_only_columns(Signal.at)
        query = query.where(Signal.kind.in_(kinds))
        return [_aware(at) for at in await self.session.scalars(query)]

    async def learners_with(self, *, group_id: int, kind: str) -> int:
        inner = (
            self._group_signals(group_id)
            .with_only_columns(Signal.user_id)
            .where(Signal.kind == kind)
            .distinct()
            .subquery()
        )
        return int(await self.session.scalar(select(func.count()).select_from(inner)) or 0)

    async def outbox_of(self, user_id: int, *, limit: int = 20) -> list[OutboxMessage]:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.user_id == user_id)
            .order_by(OutboxMessage.due_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def all_groups(self) -> list[Group]:
        return list(await self.session.scalars(select(Group).order_by(Group.id)))

    async def group_named(self, name: str) -> Group | None:
        query = select(Group).where(Group.name == name).order_by(Group.id)
        return (await self.session.scalars(query)).first()


def _aware(value: datetime) -> datetime:
    """Aggregates bypass the column type on SQLite: make them aware UTC again."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = [
    "CoachInviteRepository",
    "CoachingRepository",
    "LearnerFacts",
    "PromptRepository",
    "SessionRepository",
    "SqlCoachInviteRepository",
    "SqlCoachingRepository",
    "SqlPromptRepository",
    "SqlSessionRepository",
]
