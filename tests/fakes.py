"""Test doubles: an in-memory unit of work, a clock you can move, and a chat driver."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flows import Engine, Flow, FlowConfig, build_flows, default_flows
from flows.messages import Button, Event, IncomingFile, Reply
from storage.models import (
    AccessLog,
    Conversation,
    CvEntry,
    ErasedLearner,
    Evidence,
    Feedback,
    Goal,
    Group,
    Membership,
    OutboxMessage,
    Preferences,
    ProgrammeHoliday,
    QuestionnaireResponse,
    Reflection,
    Signal,
    ThemeLevel,
    Upload,
    User,
)
from storage.repositories import (
    LearnerInfo,
    LearnerPrefs,
    PieceFacts,
    Planned,
    PortfolioFacts,
    ReflectionFacts,
    ReportRow,
    SentRow,
    SignalInfo,
)
from storage.repositories.privacy import LinkedRows, tombstone_counts
from storage.repositories.scheduler import NOT_PLANNED
from tests import fake_coach


class FakeClock:
    """A clock that stands still until moved."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[int, User] = {}
        self._ids = itertools.count(1)

    async def get(self, user_id: int) -> User | None:
        return self.rows.get(user_id)

    async def by_external(self, *, channel: str, external_id: str) -> User | None:
        return next(
            (
                u
                for u in self.rows.values()
                if (u.channel, u.external_id) == (channel, external_id)
            ),
            None,
        )

    async def add(self, user: User) -> User:
        user.id = next(self._ids)
        self.rows[user.id] = user
        return user


class FakeConversations:
    def __init__(self) -> None:
        self.rows: dict[int, Conversation] = {}

    async def get(self, user_id: int) -> Conversation | None:
        return self.rows.get(user_id)

    async def add(self, conversation: Conversation) -> Conversation:
        self.rows[conversation.user_id] = conversation
        return conversation

    async def save(self, conversation: Conversation, columns: Collection[str]) -> None:
        self.rows[conversation.user_id] = conversation


class FakeUpdateLog:
    def __init__(self) -> None:
        self.seen_ids: dict[int, datetime] = {}
        self.kept: dict[int, dict[str, Any]] = {}

    async def seen(self, update_id: int) -> bool:
        return update_id in self.seen_ids

    async def record(self, update_id: int, *, at: datetime) -> None:
        self.seen_ids[update_id] = at

    async def claim(self, update_id: int, *, at: datetime) -> bool:
        if update_id in self.seen_ids:
            return False
        self.seen_ids[update_id] = at
        return True

    async def keep_replies(self, update_id: int, replies: dict[str, Any]) -> None:
        self.kept[update_id] = replies

    async def replies_sent(self, update_ids: Collection[int]) -> None:
        for update_id in update_ids:
            self.kept.pop(update_id, None)

    async def replies_to_send(self) -> list[tuple[int, datetime, dict[str, Any]]]:
        return sorted(
            ((u, self.seen_ids[u], r) for u, r in self.kept.items()), key=lambda row: row[1]
        )


class FakeInbox:
    """The durable inbox: the flows only prune it."""

    async def prune_set_aside(self, *, before: datetime) -> int:
        return 0


class FakeOutbox:
    def __init__(self) -> None:
        self.rows: list[OutboxMessage] = []
        self._ids = itertools.count(1)

    async def add(self, message: OutboxMessage) -> OutboxMessage | None:
        if await self.by_dedup_key(message.dedup_key) is not None:
            return None
        message.id = next(self._ids)
        self.rows.append(message)
        return message

    async def by_dedup_key(self, dedup_key: str) -> OutboxMessage | None:
        return next((m for m in self.rows if m.dedup_key == dedup_key), None)

    async def mark_answered(self, user_id: int, *, at: datetime, since: datetime) -> None:
        for m in self.rows:
            if m.user_id != user_id or m.answered_at is not None:
                continue
            if (m.status == "sent" and m.sent_at and m.sent_at >= since) or (
                m.status == "held" and m.claimed_at and m.claimed_at >= since
            ):
                m.answered_at = at


class FakeTable:
    """Rows of one model in a list, with generated ids; the base of the simple fakes."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self._ids = itertools.count(1)

    def _store(self, row: Any) -> Any:
        if hasattr(row, "id") and "id" not in row.__dict__:
            row.id = next(self._ids)
        self.rows.append(row)
        return row

    def where(self, **conditions: Any) -> list[Any]:
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in conditions.items())]


class FakeGroups(FakeTable):
    async def add(self, group: Group) -> Group:
        return self._store(group)

    async def get(self, group_id: int) -> Group | None:
        return next(iter(self.where(id=group_id)), None)

    async def by_join_code(self, join_code: str) -> Group | None:
        return next(iter(self.where(join_code=join_code)), None)

    async def of_coach(self, coach_id: int) -> list[Group]:
        return self.where(coach_id=coach_id)


class FakeMemberships(FakeTable):
    def __init__(self, groups: FakeGroups) -> None:
        super().__init__()
        self.groups = groups

    async def add(self, membership: Membership) -> Membership:
        return self._store(membership)

    async def active_for(self, learner_id: int) -> Membership | None:
        return next(iter(self.where(learner_id=learner_id, left_at=None)), None)

    async def active_in(self, group_id: int) -> list[Membership]:
        return self.where(group_id=group_id, left_at=None)

    async def coach_id_for(self, learner_id: int) -> int | None:
        membership = await self.active_for(learner_id)
        group = await self.groups.get(membership.group_id) if membership else None
        return group.coach_id if group else None


class FakePreferences(FakeTable):
    async def get(self, user_id: int) -> Preferences | None:
        return next(iter(self.where(user_id=user_id)), None)

    async def add(self, preferences: Preferences) -> Preferences:
        return self._store(preferences)


class FakeUploads(FakeTable):
    async def add(self, upload: Upload) -> Upload:
        return self._store(upload)

    async def get(self, upload_id: int) -> Upload | None:
        return next(iter(self.where(id=upload_id)), None)

    async def by_hash(self, *, owner_id: int, sha256: str) -> Upload | None:
        return next(iter(self.where(owner_id=owner_id, sha256=sha256)), None)

    async def of_owner(self, owner_id: int) -> list[Upload]:
        return self.where(owner_id=owner_id)


class FakeSignals(FakeTable):
    async def add(self, signal: Signal) -> Signal:
        return self._store(signal)

    async def of_user(self, user_id: int, *, since: datetime | None = None) -> list[Signal]:
        return [s for s in self.where(user_id=user_id) if since is None or s.at >= since]


class FakeFeedback(FakeTable):
    async def add(self, feedback: Feedback) -> Feedback:
        return self._store(feedback)

    async def for_item(self, *, item_type: str, item_id: int) -> list[Feedback]:
        return self.where(item_type=item_type, item_id=item_id)

    async def unseen_for(self, learner_id: int) -> list[Feedback]:
        return self.where(learner_id=learner_id, seen_at=None)


class FakeThemeLevels(FakeTable):
    async def of_user(self, user_id: int) -> list[ThemeLevel]:
        return self.where(user_id=user_id)

    async def put(self, level: ThemeLevel) -> ThemeLevel:
        self.rows = [
            r for r in self.rows if (r.user_id, r.theme_id) != (level.user_id, level.theme_id)
        ]
        self.rows.append(level)
        return level


class FakeReflections(FakeTable):
    async def add(self, reflection: Reflection) -> Reflection:
        return self._store(reflection)

    async def get(self, reflection_id: int) -> Reflection | None:
        return next(iter(self.where(id=reflection_id)), None)

    async def draft_of(self, learner_id: int) -> Reflection | None:
        drafts = self.where(learner_id=learner_id, status="draft")
        return drafts[-1] if drafts else None

    async def done_of(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Reflection]:
        done = sorted(
            self.where(learner_id=learner_id, status="done"),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )
        return done[offset : None if limit is None else offset + limit]

    async def count_done(self, learner_id: int) -> int:
        return len(self.where(learner_id=learner_id, status="done"))

    async def delete(self, reflection: Reflection) -> None:
        self.rows.remove(reflection)


class FakeResponses(FakeTable):
    async def add(self, response: QuestionnaireResponse) -> QuestionnaireResponse:
        return self._store(response)

    async def get(
        self, *, user_id: int, questionnaire: str, version: int
    ) -> QuestionnaireResponse | None:
        found = self.where(user_id=user_id, questionnaire=questionnaire, version=version)
        return next(iter(found), None)

    async def of_user(self, *, user_id: int, questionnaire: str) -> list[QuestionnaireResponse]:
        found = self.where(user_id=user_id, questionnaire=questionnaire)
        return sorted(found, key=lambda r: r.version, reverse=True)


class FakeGoals(FakeTable):
    async def add(self, goal: Goal) -> Goal:
        return self._store(goal)

    async def get(self, goal_id: int) -> Goal | None:
        return next(iter(self.where(id=goal_id)), None)

    async def of_week(self, *, learner_id: int, week: str) -> Goal | None:
        return next(iter(self.where(learner_id=learner_id, week=week)), None)

    async def last_before(self, *, learner_id: int, week: str) -> Goal | None:
        earlier = [g for g in self.where(learner_id=learner_id) if g.week < week]
        return max(earlier, key=lambda g: g.week, default=None)

    async def of_learner(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Goal]:
        goals = sorted(self.where(learner_id=learner_id), key=lambda g: g.week, reverse=True)
        return goals[offset : None if limit is None else offset + limit]

    async def count_reached(self, learner_id: int) -> int:
        return len(self.where(learner_id=learner_id, outcome="reached"))

    async def weeks_of(self, learner_id: int) -> list[str]:
        return sorted(g.week for g in self.where(learner_id=learner_id))

    async def themes_of(self, learner_id: int) -> list[str]:
        goals = sorted(self.where(learner_id=learner_id), key=lambda g: g.week)
        return [g.theme_id for g in goals]


class FakeEvidence(FakeTable):
    def __init__(self, reflections: FakeReflections) -> None:
        super().__init__()
        self.reflections = reflections

    async def add(self, evidence: Evidence) -> Evidence:
        return self._store(evidence)

    async def get(self, evidence_id: int) -> Evidence | None:
        return next(iter(self.where(id=evidence_id)), None)

    async def of_learner(self, learner_id: int) -> list[Evidence]:
        return sorted(self.where(learner_id=learner_id), key=lambda e: e.number)

    async def by_upload(self, *, learner_id: int, upload_id: int) -> Evidence | None:
        return next(iter(self.where(learner_id=learner_id, upload_id=upload_id)), None)

    async def next_number(self, learner_id: int) -> int:
        return max((e.number for e in self.where(learner_id=learner_id)), default=0) + 1

    async def delete(self, evidence: Evidence) -> None:
        self.rows.remove(evidence)

    async def portfolio_facts(self, learner_id: int) -> PortfolioFacts:
        pieces = [
            PieceFacts(
                number=e.number,
                kind=e.kind,
                organisation=e.organisation,
                period_start=e.period_start,
                period_end=e.period_end,
                themes=e.themes,
                competences=e.competences,
                checks=e.checks,
                privacy_confirmed=e.privacy_confirmed,
            )
            for e in await self.of_learner(learner_id)
        ]
        done = await self.reflections.done_of(learner_id)
        return PortfolioFacts(pieces, [ReflectionFacts(r.themes, r.competences) for r in done])


class FakeCv(FakeTable):
    async def add(self, entry: CvEntry) -> CvEntry:
        return self._store(entry)

    async def get(self, entry_id: int) -> CvEntry | None:
        return next(iter(self.where(id=entry_id)), None)

    async def of_learner(self, learner_id: int) -> list[CvEntry]:
        rows = self.where(learner_id=learner_id)
        return sorted(rows, key=lambda e: e.start or "", reverse=True)

    async def delete(self, entry: CvEntry) -> None:
        self.rows.remove(entry)


class FakeAccessLog(FakeTable):
    async def add(self, entry: AccessLog) -> None:
        self._store(entry)

    async def record(
        self, *, coach_id: int, learner_id: int, what: str, at: datetime
    ) -> AccessLog:
        return self._store(AccessLog(learner_id=learner_id, coach_id=coach_id, what=what, at=at))

    async def of_learner(self, learner_id: int, *, limit: int = 20) -> list[AccessLog]:
        rows = sorted(self.where(learner_id=learner_id), key=lambda r: (r.at, r.id))
        return rows[::-1][:limit]


OWNER_FIELDS = ("user_id", "learner_id", "owner_id", "about_user_id")


class FakePrivacy:
    """Export and erasure over the in-memory tables: a row whose user_id, learner_id or
    owner_id is the user belongs to them; a coach_id naming them is a mention."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.erased: list[ErasedLearner] = []

    def _tables(self) -> dict[str, list[Any]]:
        tables: dict[str, list[Any]] = {}
        for repository in vars(self.uow).values():
            rows = getattr(repository, "rows", None)
            if rows is None or repository is self:
                continue
            values = list(rows.values()) if isinstance(rows, dict) else list(rows)
            if values:
                tables.setdefault(type(values[0]).__tablename__, []).extend(values)
        return tables

    async def linked_rows(self, user_id: int) -> LinkedRows:
        result = LinkedRows()
        for name, rows in self._tables().items():
            for row in rows:
                data = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
                if (name == "users" and row.id == user_id) or any(
                    data.get(f) == user_id for f in OWNER_FIELDS
                ):
                    result.owned.setdefault(name, []).append(data)
                elif data.get("coach_id") == user_id:
                    result.mentions.setdefault(name, []).append((data, ["coach_id"]))
        return result

    async def erase(self, user_id: int, *, reason: str, at: datetime) -> ErasedLearner | None:
        rows = await self.linked_rows(user_id)
        user = self.uow.users.rows.get(user_id)
        if user is None:
            return None
        for repository in vars(self.uow).values():
            rows_of = getattr(repository, "rows", None)
            if rows_of is None or repository is self:
                continue
            if isinstance(rows_of, dict):
                for key, row in list(rows_of.items()):
                    if key == user_id or any(
                        getattr(row, f, None) == user_id for f in OWNER_FIELDS
                    ):
                        del rows_of[key]
            else:
                rows_of[:] = [
                    r
                    for r in rows_of
                    if not any(getattr(r, f, None) == user_id for f in OWNER_FIELDS)
                ]
                for row in rows_of:
                    if getattr(row, "coach_id", None) == user_id and hasattr(row, "learner_id"):
                        row.coach_id = None
        tombstone = ErasedLearner(
            erased_on=at.date().isoformat(),
            reason=reason,
            role=user.role,
            status=user.status,
            joined_month=user.created_at.strftime("%Y-%m"),
            counts=tombstone_counts(rows),
        )
        self.erased.append(tombstone)
        return tombstone

    async def stored_files(self) -> set[str]:
        return {
            str(row.relpath)
            for rows in self._tables().values()
            for row in rows
            if getattr(row, "relpath", None)
        }

    async def prune_processed_updates(self, *, before: datetime) -> int:
        old = [i for i, at in self.uow.updates.seen_ids.items() if at < before]
        for update_id in old:
            del self.uow.updates.seen_ids[update_id]
        return len(old)

    async def due_for_erasure(self, *, inactive_since: datetime) -> list[User]:
        return [
            u
            for u in self.uow.users.rows.values()
            if u.role == "learner" and (u.last_seen_at or u.created_at) < inactive_since
        ]


class FakeScheduler:
    """The scheduler repository over the other fakes' rows."""

    def __init__(self, unit: FakeUnitOfWork) -> None:
        self.unit = unit
        self.holiday_rows = FakeTable()
        self.round: tuple[date, str] | None = None

    async def learners(
        self, *, after_id: int, limit: int, due_on: date | None = None
    ) -> list[LearnerInfo]:
        """Every learner, whatever `due_on` says: the fakes have no triggers to make a
        learner due, so every round here is a full one."""
        users = sorted(
            (
                u
                for u in self.unit.users.rows.values()
                if u.role == "learner"
                and u.consent_version is not None
                and u.status not in NOT_PLANNED
                and u.id > after_id
            ),
            key=lambda u: u.id,
        )[:limit]
        found = []
        for u in users:
            row = await self.unit.preferences.get(u.id)
            prefs = LearnerPrefs(user_id=u.id)
            if row is not None:
                prefs = LearnerPrefs(
                    user_id=u.id,
                    goal_weekday=row.goal_weekday,
                    preferred_time=row.preferred_time,
                    quiet_start=row.quiet_start,
                    quiet_end=row.quiet_end,
                    days_off=tuple(row.days_off),
                    pace=row.pace,
                    paused_until=row.paused_until,
                    paused_indefinitely=row.paused_indefinitely,
                    timezone=row.timezone,
                )
            found.append(
                LearnerInfo(
                    id=u.id,
                    language=u.language,
                    created_at=u.created_at,
                    consent_at=u.consent_at,
                    last_seen_at=u.last_seen_at,
                    status=u.status,
                    prefs=prefs,
                    display_name=u.display_name,
                )
            )
        return found

    async def signals_of(
        self, user_ids: Collection[int], *, since: datetime, kinds: Collection[str]
    ) -> list[SignalInfo]:
        return [
            SignalInfo(s.user_id, s.kind, s.at, dict(s.details))
            for s in sorted(self.unit.signals.rows, key=lambda s: s.at)
            if s.user_id in user_ids and s.at >= since and s.kind in kinds
        ]

    async def coaches_of(self, user_ids: Collection[int]) -> dict[int, int]:
        found = {}
        for user_id in user_ids:
            coach = await self.unit.memberships.coach_id_for(user_id)
            if coach is not None:
                found[user_id] = coach
        return found

    async def preferences_of(self, user_ids: Collection[int]) -> dict[int, LearnerPrefs]:
        found = {}
        for user_id in user_ids:
            row = await self.unit.preferences.get(user_id)
            if row is not None:
                found[user_id] = LearnerPrefs(
                    user_id=user_id,
                    goal_weekday=row.goal_weekday,
                    preferred_time=row.preferred_time,
                    quiet_start=row.quiet_start,
                    quiet_end=row.quiet_end,
                    days_off=tuple(row.days_off),
                    pace=row.pace,
                    paused_until=row.paused_until,
                    paused_indefinitely=row.paused_indefinitely,
                    timezone=row.timezone,
                )
        return found

    async def nudge_counts(
        self,
        user_ids: Collection[int],
        *,
        start: datetime,
        end: datetime,
        kinds: Collection[str],
    ) -> dict[int, int]:
        counts: dict[int, int] = {}
        for m in self.unit.outbox.rows:
            if (
                m.user_id in user_ids
                and m.kind in kinds
                and start <= m.due_at < end
                and m.status not in ("cancelled", "held")
            ):
                counts[m.user_id] = counts.get(m.user_id, 0) + 1
        return counts

    async def planned_nudges(
        self,
        user_ids: Collection[int],
        *,
        start: datetime,
        kinds: Collection[str],
        lingering: Collection[str] = (),
        lingering_since: datetime | None = None,
    ) -> dict[int, dict[str, datetime | None]]:
        found: dict[int, dict[str, datetime | None]] = {}
        for m in self.unit.outbox.rows:
            since = lingering_since if m.kind in lingering and lingering_since else start
            if m.user_id in user_ids and m.kind in kinds and m.due_at >= min(start, since):
                live = m.status in ("pending", "claimed", "sent")
                found.setdefault(m.user_id, {})[m.dedup_key] = m.due_at if live else None
        return found

    async def notices_about(
        self, user_ids: Collection[int], *, kinds: Collection[str]
    ) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        for m in self.unit.outbox.rows:
            if m.about_user_id in user_ids and m.kind in kinds:
                found.setdefault(m.about_user_id, set()).add(m.dedup_key)
        return found

    async def set_planning_days(self, days: Sequence[tuple[int, date, int]]) -> None:
        pass

    async def insert_planned(self, messages: Sequence[Planned]) -> int:
        inserted = 0
        for message in messages:
            if await self.unit.outbox.add(message.model()) is not None:
                inserted += 1
        return inserted

    async def add_signals(self, signals: Sequence[SignalInfo]) -> None:
        for s in signals:
            await self.unit.signals.add(
                Signal(user_id=s.user_id, kind=s.kind, at=s.at, details=dict(s.details))
            )

    async def holidays(self, *, start: date, end: date) -> list[ProgrammeHoliday]:
        return sorted(
            (h for h in self.holiday_rows.rows if start <= h.day <= end), key=lambda h: h.day
        )

    async def add_holiday(self, holiday: ProgrammeHoliday) -> bool:
        if self.holiday_rows.where(day=holiday.day):
            return False
        self.holiday_rows._store(holiday)
        return True

    async def remove_holiday(self, day: date) -> bool:
        before = len(self.holiday_rows.rows)
        self.holiday_rows.rows = [h for h in self.holiday_rows.rows if h.day != day]
        return len(self.holiday_rows.rows) < before

    async def recover_claims(self, *, claimed_before: datetime) -> int:
        stale = [
            m
            for m in self.unit.outbox.rows
            if m.status == "claimed" and m.claimed_at and m.claimed_at < claimed_before
        ]
        for m in stale:
            m.status, m.error = "unknown", "claim expired: outcome unknown"
        return len(stale)

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        user_ids: Collection[int] | None = None,
        scheduled_last: bool = False,
    ) -> list[OutboxMessage]:
        due = [
            m
            for m in self.unit.outbox.rows
            if m.status == "pending"
            and m.due_at <= now
            and (user_ids is None or m.user_id in user_ids)
        ]
        return sorted(due, key=lambda m: (scheduled_last and m.scheduled, m.due_at, m.id))[:limit]

    async def work_waiting(
        self,
        *,
        now: datetime,
        claimed_before: datetime,
        user_ids: Collection[int] | None = None,
    ) -> bool:
        return any(
            (user_ids is None or m.user_id in user_ids)
            and (
                (m.status == "pending" and m.due_at <= now)
                or (m.status == "claimed" and m.claimed_at and m.claimed_at < claimed_before)
                or (
                    user_ids is None
                    and m.status == "held"
                    and m.claimed_at is None
                    and m.due_at <= now
                )
            )
            for m in self.unit.outbox.rows
        )

    async def release_held(self, *, now: datetime) -> int:
        held = [
            m
            for m in self.unit.outbox.rows
            if m.status == "held" and m.claimed_at is None and m.due_at <= now
        ]
        for m in held:
            m.claimed_at = now
            user = await self.unit.users.get(m.user_id)
            if user is not None:
                user.nudged_at = now
        return len(held)

    async def messages(self, ids: Collection[int]) -> list[OutboxMessage]:
        return [m for m in self.unit.outbox.rows if m.id in ids]

    async def mark_sent(self, refs: Mapping[int, str | None], *, now: datetime) -> list[SentRow]:
        found = []
        for m in self.unit.outbox.rows:
            if m.id in refs:
                m.status, m.sent_at, m.error = "sent", now, None
                m.channel_message_id = refs[m.id]
                found.append(SentRow(m.id, m.user_id, m.kind, m.variant))
        return found

    async def mark_nudged(self, user_ids: Collection[int], *, now: datetime) -> None:
        for user_id in set(user_ids):
            user = await self.unit.users.get(user_id)
            if user is not None:
                user.nudged_at = now

    async def recipients(
        self, user_ids: Collection[int]
    ) -> dict[int, tuple[User, Preferences | None]]:
        found: dict[int, tuple[User, Preferences | None]] = {}
        for user_id in set(user_ids):
            user = await self.unit.users.get(user_id)
            if user is not None:
                found[user_id] = (user, await self.unit.preferences.get(user_id))
        return found

    async def end_pauses(self, *, now: datetime) -> list[int]:
        ended = []
        for user in self.unit.users.rows.values():
            prefs = await self.unit.preferences.get(user.id)
            if (
                user.status == "paused"
                and prefs is not None
                and not prefs.paused_indefinitely
                and (prefs.paused_until is None or prefs.paused_until <= now)
            ):
                user.status = "active"
                ended.append(user.id)
        return ended

    async def last_round(self) -> tuple[date, str] | None:
        return self.round

    async def record_round(self, *, day: date, fingerprint: str, at: datetime) -> None:
        self.round = (day, fingerprint)

    async def report(self, *, kinds: Collection[str]) -> list[ReportRow]:
        groups: dict[tuple[str, str], list[OutboxMessage]] = {}
        for m in self.unit.outbox.rows:
            if m.kind in kinds:
                groups.setdefault((m.kind, m.variant or "-"), []).append(m)
        return [
            ReportRow(
                kind,
                variant,
                len(rows),
                sum(m.status == "sent" for m in rows),
                sum(m.status == "sent" and m.answered_at is not None for m in rows),
                sum(m.status == "held" for m in rows),
                sum(m.status == "held" and m.answered_at is not None for m in rows),
            )
            for (kind, variant), rows in sorted(groups.items())
        ]


class FakeUnitOfWork:
    """Keeps everything in memory; counts commits. One instance is shared by all events."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.conversations = FakeConversations()
        self.updates = FakeUpdateLog()
        self.inbox = FakeInbox()
        self.outbox = FakeOutbox()
        self.groups = FakeGroups()
        self.memberships = FakeMemberships(self.groups)
        self.preferences = FakePreferences()
        self.uploads = FakeUploads()
        self.signals = FakeSignals()
        self.feedback = FakeFeedback()
        self.theme_levels = FakeThemeLevels()
        self.reflections = FakeReflections()
        self.scheduler = FakeScheduler(self)
        fake_coach.attach(self)
        self.responses = FakeResponses()
        self.goals = FakeGoals()
        self.evidence = FakeEvidence(self.reflections)
        self.cv = FakeCv()
        self.access_log = FakeAccessLog()
        self.privacy = FakePrivacy(self)
        self.commits = 0
        self.locks: list[str] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        return None

    async def lock(self, key: str) -> None:
        self.locks.append(key)


def fake_engine(
    tmp_path: Path,
    *,
    flows: Sequence[Flow] | None = None,
    clock: Callable[[], datetime] | None = None,
    uow: FakeUnitOfWork | None = None,
) -> tuple[Engine, FakeUnitOfWork]:
    """An engine on the in-memory unit of work."""
    unit = uow or FakeUnitOfWork()
    engine = Engine(
        uow_factory=lambda: unit,
        flows=build_flows(flows if flows is not None else default_flows()),
        config=FlowConfig(data_dir=tmp_path / "data"),
        clock=clock or FakeClock(),
    )
    return engine, unit


@dataclass
class ChatDriver:
    """Talks to an engine as one user and remembers the last buttons it saw."""

    engine: Engine
    user: str = "learner-1"
    channel: str = "test"
    language: str | None = None
    last: list[Reply] = field(default_factory=list)

    async def send(self, event: Event) -> list[Reply]:
        self.last = await self.engine.handle(
            channel=self.channel, external_id=self.user, event=event, language=self.language
        )
        return self.last

    async def command(self, command: str, args: str = "") -> list[Reply]:
        return await self.send(Event(kind="command", command=command, text=args))

    async def text(self, text: str) -> list[Reply]:
        return await self.send(Event(kind="text", text=text))

    async def file(self, kind: Any, content: bytes, **details: Any) -> list[Reply]:
        async def read() -> bytes:
            return content

        incoming = IncomingFile(kind=kind, read=read, size=len(content), **details)
        return await self.send(Event(kind=kind, file=incoming))

    def button(self, label: str) -> Button:
        """The button with this label (or containing it) in the last replies."""
        buttons = [b for r in self.last for b in r.flat_buttons]
        for button in buttons:
            if button.label == label:
                return button
        matches = [b for b in buttons if label in b.label]
        if len(matches) != 1:
            raise AssertionError(f"no single button {label!r} in {[b.label for b in buttons]}")
        return matches[0]

    async def press(self, label: str) -> list[Reply]:
        return await self.send(Event(kind="button", value=self.button(label).data))

    async def press_data(self, data: str) -> list[Reply]:
        return await self.send(Event(kind="button", value=data))

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.last]

    @property
    def said(self) -> str:
        return "\n".join(self.texts)
