"""In-memory fakes of the coach workspace repositories, for FakeUnitOfWork."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from storage.models import (
    CoachInvite,
    CoachInviteFailure,
    GroupPrompt,
    GroupSession,
    Membership,
    OutboxMessage,
    PromptAnswer,
    RiskSnooze,
    Signal,
    User,
)
from storage.repositories import LearnerFacts, RiskRules


class _Table:
    def __init__(self) -> None:
        self.rows: list[Any] = []
        self._ids = itertools.count(1)

    def _store(self, row: Any) -> Any:
        if hasattr(row, "id") and "id" not in row.__dict__:
            row.id = next(self._ids)
        self.rows.append(row)
        return row


class FakeCoachInvites(_Table):
    def __init__(self) -> None:
        super().__init__()
        self.failures: list[CoachInviteFailure] = []

    async def add(self, invite: CoachInvite) -> CoachInvite:
        return self._store(invite)

    async def by_hash(self, code_hash: str) -> CoachInvite | None:
        return next((i for i in self.rows if i.code_hash == code_hash), None)

    async def add_failure(self, failure: CoachInviteFailure) -> None:
        self.failures.append(failure)

    async def failures_since(self, *, user_id: int, since: datetime) -> int:
        return sum(1 for f in self.failures if f.user_id == user_id and f.at >= since)


class FakeSessions(_Table):
    async def add(self, session: GroupSession) -> GroupSession:
        return self._store(session)

    async def get(self, session_id: int) -> GroupSession | None:
        return next((s for s in self.rows if s.id == session_id), None)

    async def of_group(self, group_id: int) -> list[GroupSession]:
        return sorted((s for s in self.rows if s.group_id == group_id), key=lambda s: s.starts_at)


class FakePrompts(_Table):
    def __init__(self) -> None:
        super().__init__()
        self.answer_rows = _Table()

    async def add(self, prompt: GroupPrompt) -> GroupPrompt:
        return self._store(prompt)

    async def get(self, prompt_id: int) -> GroupPrompt | None:
        return next((p for p in self.rows if p.id == prompt_id), None)

    async def of_group(self, group_id: int) -> list[GroupPrompt]:
        return [p for p in self.rows if p.group_id == group_id]

    async def add_answer(self, answer: PromptAnswer) -> PromptAnswer:
        return self.answer_rows._store(answer)

    async def answers(self, prompt_id: int) -> list[PromptAnswer]:
        return [a for a in self.answer_rows.rows if a.prompt_id == prompt_id]


class FakeCoaching:
    """The risk and statistics queries, computed from the other fake tables."""

    def __init__(self, uow: Any) -> None:
        self.uow = uow
        self.snoozes: dict[int, RiskSnooze] = {}

    def _member_signals(self, group_id: int) -> list[Signal]:
        found = []
        for m in self.uow.memberships.rows:
            if m.group_id != group_id:
                continue
            for s in self.uow.signals.rows:
                inside = m.left_at is None or s.at <= m.left_at
                if s.user_id == m.learner_id and s.at >= m.joined_at and inside:
                    found.append(s)
        return found

    async def risk_facts(
        self,
        *,
        coach_id: int,
        since: datetime,
        kinds: Sequence[str],
        learner_ids: Collection[int] | None = None,
    ) -> list[LearnerFacts]:
        facts = []
        for group in self.uow.groups.rows:
            if group.coach_id != coach_id:
                continue
            for m in self.uow.memberships.rows:
                if m.group_id != group.id or m.left_at is not None:
                    continue
                if learner_ids is not None and m.learner_id not in learner_ids:
                    continue
                user: User = self.uow.users.rows[m.learner_id]
                snooze = self.snoozes.get(user.id)
                fact = LearnerFacts(
                    learner_id=user.id,
                    name=user.display_name,
                    status=user.status,
                    last_seen_at=user.last_seen_at,
                    group_id=group.id,
                    group_name=group.name,
                    snoozed_until=snooze.until if snooze else None,
                )
                signals = sorted(
                    (s for s in self.uow.signals.rows if s.user_id == user.id),
                    key=lambda s: s.at,
                )
                for s in signals:
                    if s.kind == "barrier":
                        barrier = s.details.get("barrier")
                        if barrier and barrier not in fact.barriers:
                            fact.barriers.append(barrier)
                    elif s.kind in kinds:
                        fact.last[s.kind] = s.at
                    if s.kind == "goal_missed" and s.at >= since:
                        fact.missed_in_a_row += 1
                    elif s.kind in ("goal_reached", "goal_partly"):
                        fact.missed_in_a_row = 0
                facts.append(fact)
        return facts

    async def risk_page(
        self, *, coach_id: int, now: datetime, rules: RiskRules, offset: int, limit: int
    ) -> tuple[list[LearnerFacts], bool]:
        from flows.coach.risk import RISK_KINDS, assess, order

        facts = await self.risk_facts(
            coach_id=coach_id, since=now - rules.window, kinds=RISK_KINDS
        )
        ranked = order([assess(f, now=now) for f in facts])
        return [r.facts for r in ranked[offset : offset + limit]], len(ranked) > offset + limit

    async def has_learners(self, *, coach_id: int) -> bool:
        groups = {g.id for g in self.uow.groups.rows if g.coach_id == coach_id}
        return any(m.group_id in groups and m.left_at is None for m in self.uow.memberships.rows)

    async def snooze(self, *, learner_id: int, coach_id: int, until: datetime) -> None:
        self.snoozes[learner_id] = RiskSnooze(
            learner_id=learner_id, coach_id=coach_id, until=until
        )

    async def members(
        self, group_id: int, *, include_left: bool = False
    ) -> list[tuple[Membership, User]]:
        return [
            (m, self.uow.users.rows[m.learner_id])
            for m in self.uow.memberships.rows
            if m.group_id == group_id and (include_left or m.left_at is None)
        ]

    async def signal_counts(self, *, group_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self._member_signals(group_id):
            counts[s.kind] = counts.get(s.kind, 0) + 1
        return counts

    async def signal_times(self, *, group_id: int, kinds: tuple[str, ...]) -> list[datetime]:
        return [s.at for s in self._member_signals(group_id) if s.kind in kinds]

    async def learners_with(self, *, group_id: int, kind: str) -> int:
        return len({s.user_id for s in self._member_signals(group_id) if s.kind == kind})

    async def outbox_of(self, user_id: int, *, limit: int = 20) -> list[OutboxMessage]:
        rows = [m for m in self.uow.outbox.rows if m.user_id == user_id]
        return sorted(rows, key=lambda m: m.due_at, reverse=True)[:limit]

    async def all_groups(self) -> list[Any]:
        return list(self.uow.groups.rows)

    async def group_named(self, name: str) -> Any:
        return next((g for g in self.uow.groups.rows if g.name == name), None)


def attach(uow: Any) -> None:
    """Adds the coach workspace fakes to a fake unit of work."""
    uow.coach_invites = FakeCoachInvites()
    uow.sessions = FakeSessions()
    uow.prompts = FakePrompts()
    uow.coaching = FakeCoaching(uow)
