"""The daily rounds read only the learners whose planning day came or whose data changed
(`PlanningState`), and miss nothing by it: after every daily round of three simulated weeks,
with learners setting goals, writing, pausing and changing their times between rounds, a full
round over everyone finds nothing more to plan. Runs on SQLite and, with
OPSTAP_TEST_DATABASE_URL, on PostgreSQL (the triggers are the dialect's own)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text, update

from bot.runtime import Runtime
from bot.scheduler import Planner, plan
from flows import nudges
from flows import signals as S
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import (
    Group,
    Membership,
    OutboxMessage,
    PlanningState,
    Preferences,
    ProgrammeHoliday,
    Signal,
    User,
)

START = datetime(2026, 3, 15, 23, 15, tzinfo=UTC)  # 00:15 on Monday 16 March in Brussels
LEARNERS = 40


async def _people(runtime: Runtime) -> None:
    created = START - timedelta(days=30)
    rows = [
        {
            "id": n,
            "channel": "telegram",
            "external_id": str(n),
            "chat_id": str(n),
            "language": "nl",
            "language_chosen": True,
            "role": "learner",
            "status": "active",
            "consent_version": 1,
            "consent_at": created,
            "created_at": created,
            "last_seen_at": START - timedelta(days=n % 23, hours=n % 5),
        }
        for n in range(1, LEARNERS + 1)
    ]
    coach = {**rows[0], "id": 1000, "external_id": "coach", "chat_id": "1000", "role": "coach"}
    async with runtime.sessionmaker() as session:
        await session.execute(insert(User.__table__), [*rows, coach])
        await session.execute(
            insert(Preferences.__table__),
            [
                {
                    "user_id": n,
                    "goal_weekday": n % 7,
                    "preferred_time": ("08:30", "12:00", "18:00")[n % 3],
                    "quiet_start": "21:00",
                    "quiet_end": "08:00",
                    "days_off": [n % 7] if n % 4 == 0 else [],
                    "pace": "light" if n % 5 == 0 else "normal",
                    "paused_indefinitely": False,
                }
                for n in range(1, LEARNERS + 1, 2)
            ],
        )
        await session.execute(
            insert(Group.__table__),
            [{"id": 1, "name": "g", "coach_id": 1000, "join_code": "g1", "created_at": created}],
        )
        await session.execute(
            insert(Membership.__table__),
            [
                {"group_id": 1, "learner_id": n, "joined_at": created}
                for n in range(1, LEARNERS + 1, 3)
            ],
        )
        await session.commit()


async def _events(runtime: Runtime, rng: random.Random, now: datetime) -> None:
    """What learners do between two rounds: through plain SQL, as any part of Opstap could."""
    async with runtime.sessionmaker() as session:
        for _ in range(6):
            uid = rng.randint(1, LEARNERS)
            at = now + timedelta(hours=rng.randint(8, 14))
            week = nudges.iso_week(at.date())
            choice = rng.randrange(7)
            if choice <= 1:
                kind = (S.GOAL_SET, S.GOAL_REACHED)[choice]
                await session.execute(
                    insert(Signal.__table__),
                    [{"user_id": uid, "kind": kind, "at": at, "details": {"week": week}}],
                )
            elif choice == 2:
                await session.execute(
                    update(User.__table__).where(User.id == uid).values(last_seen_at=at)
                )
            elif choice == 3:
                await session.execute(
                    update(Preferences.__table__)
                    .where(Preferences.user_id == uid)
                    .values(goal_weekday=rng.randrange(7), preferred_time="20:00")
                )
            elif choice == 4:
                pending = await session.scalar(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.user_id == uid, OutboxMessage.status == "pending")
                    .limit(1)
                )
                if pending is not None:
                    await session.execute(
                        update(OutboxMessage.__table__)
                        .where(OutboxMessage.id == pending)
                        .values(status="cancelled")
                    )
            elif choice == 5:
                await session.execute(
                    update(Preferences.__table__)
                    .where(Preferences.user_id == uid)
                    .values(paused_until=at + timedelta(days=rng.randint(1, 5)))
                )
            else:
                await session.execute(
                    insert(Membership.__table__),
                    [{"group_id": 1, "learner_id": uid, "joined_at": at, "left_at": at}],
                )
        await session.commit()


async def _totals(runtime: Runtime) -> tuple[int, int]:
    async with runtime.sessionmaker() as session:
        messages = await session.scalar(select(func.count()).select_from(OutboxMessage))
        signals = await session.scalar(select(func.count()).select_from(Signal))
    return int(messages or 0), int(signals or 0)


async def test_daily_rounds_miss_nothing_a_full_round_would_plan(runtime: Runtime) -> None:
    await _people(runtime)
    policy = runtime.nudge_policy()
    rng = random.Random(20261204)
    read = 0
    for day in range(21):
        now = START + timedelta(days=day)
        daily = await plan(runtime.uow, lambda now=now: now, policy)
        read += daily.learners
        before = await _totals(runtime)
        full = await plan(runtime.uow, lambda now=now: now, policy, full=True)
        assert (full.planned, full.signals) == (0, 0), f"day {day}"
        assert await _totals(runtime) == before
        await _events(runtime, rng, now)
    # Most learners are not read on most days (40 learners, 21 rounds).
    assert read < LEARNERS * 21 * 0.6


async def test_a_change_makes_the_learner_due_and_a_stale_day_is_not_written(
    runtime: Runtime,
) -> None:
    await _people(runtime)
    policy = runtime.nudge_policy()
    await plan(runtime.uow, lambda: START, policy)
    async with runtime.uow() as uow:
        due = await uow.scheduler.learners(after_id=0, limit=100, due_on=START.date())
        assert len(due) < LEARNERS  # the others have a later day
        state = await uow.session.get(PlanningState, 3)
        assert state is not None and state.plan_on is not None
        version = state.version
    async with runtime.sessionmaker() as session:  # the learner sets a goal
        await session.execute(
            insert(Signal.__table__),
            [{"user_id": 3, "kind": S.GOAL_SET, "at": START, "details": {"week": "2026-W12"}}],
        )
        await session.commit()
    async with runtime.uow() as uow:
        state = await uow.session.get(PlanningState, 3)
        assert state is not None and state.plan_on is None and state.version == version + 1
        # A round that read the learner before the goal does not write its day over it.
        await uow.scheduler.set_planning_days([(3, START.date() + timedelta(days=5), version)])
        await uow.commit()
    async with runtime.uow() as uow:
        state = await uow.session.get(PlanningState, 3)
        assert state is not None and state.plan_on is None
        # A programme holiday makes everyone due.
        await uow.scheduler.add_holiday(ProgrammeHoliday(day=START.date() + timedelta(days=3)))
        await uow.commit()
    async with runtime.uow() as uow:
        due = await uow.scheduler.learners(after_id=0, limit=100, due_on=START.date())
    assert len(due) == LEARNERS


async def test_migrated_sqlite_has_the_planning_triggers(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, channel, external_id, language, language_chosen,"
                    " role, status, created_at) VALUES (5, 'telegram', '5', 'nl', 1,"
                    " 'learner', 'active', '2026-01-01 00:00:00')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO signals (user_id, kind, at, details)"
                    " VALUES (5, 'goal_set', '2026-01-01 00:00:00', '{}')"
                )
            )
            query = text("SELECT user_id, plan_on, version FROM planning_states")
            rows = (await connection.execute(query)).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [(5, None, 1)]


async def test_a_process_reads_everyone_first_then_only_those_due(runtime: Runtime) -> None:
    """No round ever finished: a process's first round reads every learner, the next day's
    only those due."""
    await _people(runtime)
    policy = runtime.nudge_policy()
    now = [START]
    planner = Planner(uow_factory=runtime.uow, clock=lambda: now[0], policy=policy)
    first = await planner.run_if_due()
    now[0] += timedelta(days=1)
    second = await planner.run_if_due()
    assert first is not None and first.learners == LEARNERS
    assert second is not None and second.learners < LEARNERS


async def test_a_restart_goes_on_from_the_last_round(runtime: Runtime) -> None:
    """A process that starts after a round of the same code and policy finished does not
    read everyone again: the same day it plans nothing, the next day only those due."""
    await _people(runtime)
    policy = runtime.nudge_policy()
    await plan(runtime.uow, lambda: START, policy, full=True)
    now = [START + timedelta(hours=3)]
    restarted = Planner(uow_factory=runtime.uow, clock=lambda: now[0], policy=policy)
    assert await restarted.run_if_due() is None  # that day was planned
    now[0] = START + timedelta(days=1)
    again = Planner(uow_factory=runtime.uow, clock=lambda: now[0], policy=policy)
    daily = await again.run_if_due()
    assert daily is not None and daily.learners < LEARNERS
    assert await again.run_if_due() is None


async def test_another_policy_reads_everyone_again(runtime: Runtime) -> None:
    """The policy (or the planner's code) changed since the last round: the planning days
    found before may be wrong, so the first round reads every learner."""
    await _people(runtime)
    policy = runtime.nudge_policy()
    await plan(runtime.uow, lambda: START, policy, full=True)
    changed = replace(policy, weekly_limit=policy.weekly_limit + 1)
    assert nudges.fingerprint(changed) != nudges.fingerprint(policy)
    now = [START + timedelta(hours=3)]
    planner = Planner(uow_factory=runtime.uow, clock=lambda: now[0], policy=changed)
    first = await planner.run_if_due()
    assert first is not None and first.learners == LEARNERS
    async with runtime.uow() as uow:
        assert await uow.scheduler.last_round() == (
            START.astimezone(ZoneInfo(policy.timezone)).date(),
            nudges.fingerprint(changed),
        )


@dataclass
class _Lease:
    """A lease another process may hold."""

    holding: bool = True

    async def held(self) -> bool:
        return self.holding


async def test_taking_over_the_lease_asks_what_was_planned(runtime: Runtime) -> None:
    """A process that gets the lease back after another one planned a day does not plan
    that day again."""
    await _people(runtime)
    policy = runtime.nudge_policy()
    lease = _Lease()
    now = [START]
    planner = Planner(uow_factory=runtime.uow, clock=lambda: now[0], policy=policy, lease=lease)
    assert await planner.run_if_due() is not None
    lease.holding = False
    now[0] += timedelta(days=1)
    assert await planner.run_if_due() is None  # another process holds the lease
    await plan(runtime.uow, lambda: now[0], policy)  # and plans the day
    lease.holding = True
    assert await planner.run_if_due() is None
    now[0] += timedelta(days=1)
    assert await planner.run_if_due() is not None
