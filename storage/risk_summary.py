"""The risk summary: per learner, what the risk view needs of their signals, kept up to date
in the same transaction as every signal that changes it.

`fold` adds one signal to a learner's summary. It gives the same summary in any order of
signals: the last time of each kind is a maximum; the goals missed "in a row" are the
missed goals after the last goal reached or partly reached (those at or before it are
dropped, a later outcome drops them all), kept for 90 days before the newest, so a count
over any window of up to 90 days that ends after the newest signal is exact; barriers keep
the order of their signals (time, then id), and a barrier older than the last one folded
in makes a recount from the signals table. `summarise` runs in the repositories that add
signals; `backfill` builds every summary from the signals table (the migration, and
benchmarks that seed signals directly).

On PostgreSQL the summary rows are read FOR UPDATE: a coach's "I called them" and the
learner's own check-in may fold into the same row from two transactions at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RiskSummary, Signal

#: Signal kinds whose last time is kept, and the summary column of each.
LAST_COLUMNS: Mapping[str, str] = {
    "session_absent": "last_session_absent",
    "session_present": "last_session_present",
    "asked_for_coach": "last_asked_for_coach",
    "checkin_no_time": "last_checkin_no_time",
    "checkin_stuck": "last_checkin_stuck",
    "coach_contact": "last_coach_contact",
}
GOAL_OUTCOMES = ("goal_reached", "goal_partly")
GOAL_MISSED = "goal_missed"
BARRIER = "barrier"
#: Every kind that changes a summary.
KINDS = frozenset({*LAST_COLUMNS, *GOAL_OUTCOMES, GOAL_MISSED, BARRIER})
#: How long before the newest missed goal the older ones are kept.
MISSED_KEPT = timedelta(days=90)
#: The summary's columns of the newest missed goals, newest first.
NEWEST_MISSED = ("missed_1", "missed_2", "missed_3")
#: The barrier ids that count in the risk score (flows/signals.py `BARRIERS`, the risk
#: view's `BARRIER_LABELS`; a test keeps them equal): `barrier_count` counts these. When the
#: rules name other ones, /atrisk searches the `barriers` text instead.
COUNTED_BARRIERS = frozenset(
    {
        "time",
        "shifts",
        "work_family",
        "distance",
        "no_support_home",
        "no_support_employer",
        "cost",
        "admission",
        "language",
        "health",
        "fear",
        "school_memories",
        "digital",
    }
)


def stamp(at: datetime) -> str:
    """`at` as fixed-width UTC text: two stamps compare as their times do."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def missed_since(missed: str, since: datetime) -> int:
    """How many of the stored missed goals lie at or after `since`."""
    floor = stamp(since)
    return sum(1 for at in missed.split() if at >= floor)


def derive(summary: Any) -> None:
    """Sets the columns derived from `missed` and `barriers` (the newest missed goals as
    times, the number of different counted barriers)."""
    entries = summary.missed.split()
    for k, column in enumerate(NEWEST_MISSED, start=1):
        at = datetime.fromisoformat(entries[-k]).replace(tzinfo=UTC) if k <= len(entries) else None
        setattr(summary, column, at)
    summary.barrier_count = len(set(summary.barriers.split()) & COUNTED_BARRIERS)


def barrier_of(details: Mapping[str, Any] | None) -> str | None:
    """The barrier id a barrier signal names, if any."""
    value = (details or {}).get("barrier")
    return value if isinstance(value, str) and value else None


@dataclass
class _Row:
    """A summary being built by `backfill` (the same attributes as `RiskSummary`)."""

    user_id: int
    last_session_absent: datetime | None = None
    last_session_present: datetime | None = None
    last_asked_for_coach: datetime | None = None
    last_checkin_no_time: datetime | None = None
    last_checkin_stuck: datetime | None = None
    last_coach_contact: datetime | None = None
    last_goal_outcome: datetime | None = None
    missed: str = ""
    barriers: str = ""
    barriers_at: datetime | None = None
    missed_1: datetime | None = None
    missed_2: datetime | None = None
    missed_3: datetime | None = None
    barrier_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            **{column: getattr(self, column) for column in LAST_COLUMNS.values()},
            "last_goal_outcome": self.last_goal_outcome,
            "missed": self.missed,
            "barriers": self.barriers,
            "barriers_at": self.barriers_at,
            **{column: getattr(self, column) for column in NEWEST_MISSED},
            "barrier_count": self.barrier_count,
        }


def _later(old: datetime | None, new: datetime) -> datetime:
    return new if old is None or new > old else old


def fold(summary: Any, kind: str, at: datetime, details: Mapping[str, Any] | None) -> bool:
    """Adds one signal to `summary` (a `RiskSummary`); False when the barriers must be
    recounted from the signals table (a barrier older than the last one folded in)."""
    column = LAST_COLUMNS.get(kind)
    if column is not None:
        setattr(summary, column, _later(getattr(summary, column), at))
    elif kind == GOAL_MISSED:
        outcome = summary.last_goal_outcome
        if outcome is None or at > outcome:
            entries = sorted([*summary.missed.split(), stamp(at)])
            floor = stamp(datetime.fromisoformat(entries[-1]).replace(tzinfo=UTC) - MISSED_KEPT)
            summary.missed = " ".join(e for e in entries if e >= floor)
            derive(summary)
    elif kind in GOAL_OUTCOMES:
        summary.last_goal_outcome = outcome = _later(summary.last_goal_outcome, at)
        cut = stamp(outcome)
        kept = [e for e in summary.missed.split() if e > cut]
        summary.missed = " ".join(kept)
        derive(summary)
    elif kind == BARRIER:
        barrier = barrier_of(details)
        if barrier is None:
            return True
        if summary.barriers_at is not None and at < summary.barriers_at:
            return False
        summary.barriers = f"{summary.barriers} {barrier}".strip()
        summary.barriers_at = at
        derive(summary)
    return True


async def summarise(
    session: AsyncSession, signals: Iterable[tuple[int, str, datetime, Mapping[str, Any]]]
) -> None:
    """Folds new signals (user id, kind, time, details) into their learners' summaries, in
    the caller's transaction."""
    relevant = [s for s in signals if s[1] in KINDS]
    if not relevant:
        return
    user_ids = sorted({s[0] for s in relevant})
    rows = await _locked(session, user_ids)
    missing = [user_id for user_id in user_ids if user_id not in rows]
    if missing:
        await session.execute(_insert_ignore(session), [{"user_id": u} for u in missing])
        rows.update(await _locked(session, missing))
    recount: set[int] = set()
    for user_id, kind, at, details in sorted(relevant, key=lambda s: s[2]):
        if not fold(rows[user_id], kind, at, details):
            recount.add(user_id)
    for user_id in sorted(recount):
        await session.flush()  # the new barrier signals must be in the table
        query = (
            select(Signal.at, Signal.details)
            .where(Signal.user_id == user_id, Signal.kind == BARRIER)
            .order_by(Signal.at, Signal.id)
        )
        row = rows[user_id]
        row.barriers, row.barriers_at = "", None
        for at, details in await session.execute(query):
            fold(row, BARRIER, at, details)
        derive(row)


async def _locked(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, RiskSummary]:
    query = select(RiskSummary).where(RiskSummary.user_id.in_(user_ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.user_id: row for row in await session.scalars(query)}


def _insert_ignore(session: AsyncSession) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(RiskSummary).on_conflict_do_nothing(index_elements=["user_id"])
    return sqlite.insert(RiskSummary).on_conflict_do_nothing(index_elements=["user_id"])


def backfill(connection: Connection, *, batch: int = 5000, target: Table | None = None) -> int:
    """Builds every learner's summary from the signals table (replacing what is there);
    returns the number of summaries. `target` is the summary table as a migration knows
    it (only its columns are written); by default today's model."""
    table = Signal.__table__
    query = (
        select(table.c.user_id, table.c.kind, table.c.at, table.c.details)
        .where(table.c.kind.in_(sorted(KINDS)))
        .order_by(table.c.user_id, table.c.at, table.c.id)
    )
    summaries: Any = RiskSummary.__table__ if target is None else target
    names = set(summaries.c.keys())

    def insert_rows(rows: list[dict[str, Any]]) -> None:
        connection.execute(
            insert(summaries), [{k: v for k, v in row.items() if k in names} for row in rows]
        )

    connection.execute(delete(summaries))
    rows: list[dict[str, Any]] = []
    current: _Row | None = None
    count = 0
    for user_id, kind, at, details in connection.execute(query):
        if current is None or current.user_id != user_id:
            if current is not None:
                rows.append(current.values())
            current = _Row(user_id=user_id)
            count += 1
        fold(current, kind, at, details)  # in order: never asks for a recount
        if len(rows) >= batch:
            insert_rows(rows)
            rows = []
    if current is not None:
        rows.append(current.values())
    if rows:
        insert_rows(rows)
    return count
