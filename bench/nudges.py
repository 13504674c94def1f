"""Scheduler benchmarks: planning the nudges of many learners, and the outbox dispatcher's own
ceiling with sending stubbed out (PRODUCT.md, "Performance").

python -m bench.nudges --learners 100000 --messages 3000 [--postgres URL]

With `--postgres` the same weeks are planned on PostgreSQL too (its tables are replaced), with
the server's CPU beside the planner's when the server runs on this host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import Figure, table
from bot.runtime import tune_collector
from bot.scheduler import Dispatcher, plan
from flows import nudges
from flows import signals as S
from flows.i18n import Translator
from flows.messages import Reply
from storage.db import create_engine, create_sessionmaker, is_sqlite
from storage.models import Base, Group, Membership, OutboxMessage, Preferences, Signal, User
from storage.repositories import Planned, payload
from storage.uow import SqlUnitOfWork
from tests.conftest import reset_schema

NOW = datetime(2026, 3, 16, 6, 0, tzinfo=UTC)  # a Monday morning
TELEGRAM_RATE = 30.0  # messages per second, overall
GROUP_SIZE = 12
GROUPS_PER_COACH = 10
#: The planner's daily round, 00:15 in Brussels, on the seven days from Monday 16 March.
WEEK = [datetime(2026, 3, 15, 23, 15, tzinfo=UTC) + timedelta(days=d) for d in range(7)]


class NullSender:
    """Sends nothing: measures the dispatcher itself."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, user: User, reply: Reply) -> None:
        self.count += 1


async def _database(url: str, learners: int) -> SqlUnitOfWork:
    """The learners, their preferences, signals, groups and coaches, in a new SQLite file or
    in a PostgreSQL database whose tables are replaced (and then analysed, as a database
    in use would be)."""
    if not is_sqlite(url):
        await reset_schema(url)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
        users = [
            {
                "id": n,
                "channel": "telegram",
                "external_id": str(n),
                "chat_id": str(n),
                "language": ("nl", "fr", "en", "ar", "tr")[n % 5],
                "language_chosen": True,
                "role": "learner",
                "status": "active",
                "consent_version": 1,
                "consent_at": NOW - timedelta(days=60),
                "created_at": NOW - timedelta(days=60),
                "last_seen_at": NOW - timedelta(days=n % 25, hours=3),
            }
            for n in range(1, learners + 1)
        ]
        for start in range(0, len(users), 10_000):
            await connection.execute(insert(User.__table__), users[start : start + 10_000])
        prefs = [
            {
                "user_id": n,
                "goal_weekday": n % 7,
                "preferred_time": ("08:30", "12:00", "18:00", "20:00")[n % 4],
                "quiet_start": "21:00",
                "quiet_end": "08:00",
                "days_off": [n % 7] if n % 3 == 0 else [],
                "pace": "light" if n % 4 == 0 else "normal",
                "paused_indefinitely": n % 50 == 0,
            }
            for n in range(1, learners + 1, 2)
        ]
        for start in range(0, len(prefs), 10_000):
            await connection.execute(insert(Preferences.__table__), prefs[start : start + 10_000])
        signals = [
            {
                "user_id": n,
                "kind": S.GOAL_SET if n % 2 else S.GOAL_REACHED,
                "at": NOW - timedelta(days=n % 5),
                "details": {"week": nudges.iso_week((NOW - timedelta(days=n % 5)).date())},
            }
            for n in range(1, learners + 1, 3)
        ]
        for start in range(0, len(signals), 10_000):
            await connection.execute(insert(Signal.__table__), signals[start : start + 10_000])
        # Groups of 12 learners, ten groups to a coach (a coach with 120 learners).
        groups = (learners + GROUP_SIZE - 1) // GROUP_SIZE
        coaches = [
            {
                "id": learners + 1 + c,
                "channel": "telegram",
                "external_id": f"coach{c}",
                "chat_id": str(learners + 1 + c),
                "language": "nl",
                "role": "coach",
                "status": "active",
                "created_at": NOW - timedelta(days=90),
            }
            for c in range((groups + GROUPS_PER_COACH - 1) // GROUPS_PER_COACH)
        ]
        await connection.execute(insert(User.__table__), coaches)
        await connection.execute(
            insert(Group.__table__),
            [
                {
                    "id": g + 1,
                    "name": f"group {g + 1}",
                    "coach_id": learners + 1 + g // GROUPS_PER_COACH,
                    "join_code": f"j{g + 1}",
                    "created_at": NOW - timedelta(days=90),
                }
                for g in range(groups)
            ],
        )
        members = [
            {
                "group_id": 1 + (n - 1) // GROUP_SIZE,
                "learner_id": n,
                "joined_at": NOW - timedelta(days=60),
            }
            for n in range(1, learners + 1)
        ]
        for start in range(0, len(members), 10_000):
            await connection.execute(insert(Membership.__table__), members[start : start + 10_000])
    if not is_sqlite(url):
        await _analyze(engine)
    sessionmaker = create_sessionmaker(engine)
    return SqlUnitOfWork(sessionmaker)


async def _analyze(engine: AsyncEngine) -> None:
    """PostgreSQL's statistics brought up to date, as autovacuum does within a minute of a
    round's inserts (the benchmark's rounds follow each other at once, a day apart in use)."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("ANALYZE"))


async def _server_cpu(engine: AsyncEngine | None) -> dict[int, float] | None:
    """The CPU seconds used so far by each PostgreSQL process serving this database (its
    connections and autovacuum's workers on it), or None when they cannot be seen from
    here (a server on another host) or on SQLite."""
    if engine is None:
        return None
    async with engine.connect() as connection:
        pids = (
            await connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        ).scalars()
        return _cpu_of(list(pids)) or None


def _cpu_of(pids: list[int]) -> dict[int, float]:
    """The CPU seconds (user and system) of those PostgreSQL processes that run here."""
    used: dict[int, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # (on another host, or ended meanwhile)
        if stat[stat.index("(") + 1 : stat.rindex(")")] != "postgres":
            continue  # (the server is on another host: that pid is some other program)
        fields = stat[stat.rindex(")") + 2 :].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


async def _nothing() -> None:
    pass


async def _week(
    factory: Callable[[], SqlUnitOfWork],
    policy: nudges.NudgePolicy,
    *,
    weeks: int,
    between: Callable[[], Awaitable[None]] = _nothing,
    engine: AsyncEngine | None = None,
) -> tuple[float, float, float | None, float]:
    """The week's seven daily rounds `weeks` after the first: wall time, this process's CPU,
    the PostgreSQL server's CPU (None on SQLite, or a server elsewhere) and the nudges and
    notices planned. `between` runs after each round, outside what is measured; the
    server's CPU is read only with the PostgreSQL `engine`."""
    wall = cpu = 0.0
    server: float | None = None
    planned = 0
    for day in WEEK:
        served = await _server_cpu(engine)  # (before this process's clocks start)
        started, used = time.perf_counter(), time.process_time()
        result = await plan(factory, lambda day=day: day + timedelta(weeks=weeks), policy)
        cpu += time.process_time() - used
        wall += time.perf_counter() - started
        if served is not None and (now := await _server_cpu(engine)) is not None:
            # (a process that ended during the round is missed: the pool keeps its own)
            server = (server or 0.0) + sum(t - served.get(pid, 0.0) for pid, t in now.items())
        planned += result.planned
        await between()
    return wall, cpu, server, planned


class PostgresWeeks(NamedTuple):
    """`run_postgres`'s findings: seconds, and the server's None when not seen."""

    wall: float
    cpu: float
    server: float | None
    planned: float
    after_cpu: float
    after_server: float | None


async def run_postgres(*, url: str, learners: int) -> PostgresWeeks:
    """Planning on PostgreSQL, as a programme of 100,000 learners runs (docs/DEPLOYMENT.md):
    the same learners and weeks as `run`, the work of the planner's process and of the
    server side by side. Its tables are replaced."""
    uow = await _database(url, learners)
    engine = uow._sessionmaker.kw["bind"]
    try:
        factory = lambda: SqlUnitOfWork(uow._sessionmaker)  # noqa: E731
        policy = nudges.NudgePolicy()
        analyze = lambda: _analyze(engine)  # noqa: E731
        wall, cpu, server, planned = await _week(
            factory, policy, weeks=0, between=analyze, engine=engine
        )
        _, after_cpu, after_server, _ = await _week(
            factory, policy, weeks=1, between=analyze, engine=engine
        )
    finally:
        await engine.dispose()
    return PostgresWeeks(wall, cpu, server, planned, after_cpu, after_server)


async def postgres_figures(*, postgres: str | None, learners: int) -> list[Figure]:
    """`run_postgres` as figures: the planner's and the server's CPU together must fit the
    target of one core, since both do the planning's work."""
    name = "planning on PostgreSQL"
    if not postgres:
        print(f"{name}: skipped, no PostgreSQL given (make bench POSTGRES=URL)")
        return []
    found = await run_postgres(url=postgres, learners=learners)
    week = f"a week (7 daily rounds) for {learners:,} learners"
    figures = [
        Figure(name, f"{week}, the planner's CPU", found.cpu, "s", better="none"),
        Figure(name, "wall time", found.wall, "s", better="none"),
        Figure(name, "nudges and notices planned", found.planned, "", better="none"),
    ]
    if found.server is None or found.after_server is None:
        print(f"{name}: the server's CPU not measured (its processes are not on this host)")
        return figures
    return [
        *figures,
        Figure(name, f"{week}, the server's CPU", found.server, "s", better="none"),
        Figure(name, f"{week}, planner and server (CPU)", found.cpu + found.server, "s", 30),
        Figure(
            name,
            "the week after, planner and server (CPU)",
            found.after_cpu + found.after_server,
            "s",
            better="none",
        ),
    ]


async def run(*, learners: int, messages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        uow = await _database(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", learners)
        factory = lambda: SqlUnitOfWork(uow._sessionmaker)  # noqa: E731
        policy = nudges.NudgePolicy()
        # A week of daily planning rounds, as the bot runs them.
        planning, planning_cpu, _, planned = await _week(factory, policy, weeks=0)
        spread = await _spread(factory, policy)
        # The week after, the planner running on: each round reads only the learners whose
        # planning day came (the first week's first round read everyone, a new database).
        _, next_week_cpu, _, _ = await _week(factory, policy, weeks=1)
        again = await plan(factory, lambda: WEEK[-1] + timedelta(weeks=1), policy, full=True)

        async with factory() as unit:
            rows = [  # half of them nudges, whose relevance is checked before sending
                nudges.planned_message(
                    kind=nudges.CHECKIN,
                    user_id=1 + n % learners,
                    key=f"bench:{n}",
                    due=NOW - timedelta(minutes=1),
                    now=NOW,
                    policy=policy,
                    meta={"week": "2026-W12"},
                )
                if n % 2
                else Planned(
                    user_id=1 + n % learners,
                    kind="notice",
                    scheduled=False,  # a notice a flow wrote, not planned
                    dedup_key=f"bench:{n}",
                    due_at=NOW - timedelta(minutes=1),
                    payload=payload("Welcome back! Your messages start again."),
                    created_at=NOW,
                )
                for n in range(messages)
            ]
            await unit.scheduler.insert_planned(rows)
            await unit.commit()
        sender = NullSender()
        dispatcher = Dispatcher(
            uow_factory=factory,
            sender=sender,
            clock=lambda: NOW + timedelta(hours=6),  # 13:00 in Brussels, not quiet
            translator=lambda language: Translator(language),
        )
        dispatcher.user_ids = None
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(messages // dispatcher.batch + 10):  # bounded: a batch per round
            if sender.count >= messages:
                break
            before = sender.count
            await dispatcher.run_once()
            if sender.count == before:
                break
        dispatching = time.perf_counter() - started
        dispatching_cpu = time.process_time() - cpu
        await uow._sessionmaker.kw["bind"].dispose()
    rate = sender.count / dispatching if dispatching else 0.0
    return {
        "learners": learners,
        "planning_seconds": planning,
        "planning_cpu_seconds": planning_cpu,
        "planned": planned,
        "next_week_cpu_seconds": next_week_cpu,
        **spread,
        "planned_again": again.planned,
        "dispatched": sender.count,
        "dispatch_per_second": rate,
        "dispatch_per_cpu_second": sender.count / dispatching_cpu if dispatching_cpu else 0.0,
        "ceiling_over_telegram_rate": rate / TELEGRAM_RATE,
    }


async def _spread(factory: Any, policy: nudges.NudgePolicy) -> dict[str, float]:
    """What the week's plan asks of the sender: the most messages due in one second, the
    most to one chat in one second (a coach's notices due together go as one digest), and
    how many learner nudges fall in their learner's quiet hours (must be none)."""
    o, p = OutboxMessage.__table__.c, Preferences.__table__.c
    async with factory() as unit:
        rows = (
            await unit.session.execute(
                select(o.user_id, o.kind, o.due_at, p.quiet_start, p.quiet_end)
                .select_from(
                    OutboxMessage.__table__.outerjoin(
                        Preferences.__table__, p.user_id == o.user_id
                    )
                )
                .where(o.status.in_(("pending", "held")))
            )
        ).all()
    tz = ZoneInfo(policy.timezone)
    per_second: Counter[datetime] = Counter()
    per_chat: Counter[tuple[int, datetime]] = Counter()
    digests: set[tuple[int, datetime]] = set()
    in_quiet = 0
    for user_id, kind, due, quiet_start, quiet_end in rows:
        second = due.replace(microsecond=0)
        if kind in nudges.COACH_KINDS:
            if (user_id, second) in digests:
                continue  # one digest message for all of them
            digests.add((user_id, second))
        per_second[second] += 1
        per_chat[(user_id, second)] += 1
        if kind in nudges.NUDGE_KINDS:
            start = nudges.parse_hhmm(quiet_start or "21:00") or dt_time(21)
            end = nudges.parse_hhmm(quiet_end or "08:00") or dt_time(8)
            local = (
                due.replace(tzinfo=UTC).astimezone(tz).time()
                if due.tzinfo is None
                else (due.astimezone(tz).time())
            )
            in_quiet += nudges.in_quiet_hours(local, start, end)
    return {
        "peak_due_per_second": max(per_second.values(), default=0),
        "peak_per_chat_second": max(per_chat.values(), default=0),
        "coach_notices": sum(1 for row in rows if row[1] in nudges.COACH_KINDS),
        "digests": len(digests),
        "due_in_quiet_hours": in_quiet,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.nudges", description=__doc__)
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL to plan on as well (tables replaced)")
    args = parser.parse_args()
    tune_collector()  # as `opstap run` and `opstap dispatcher`, where the planner runs
    figures = asyncio.run(run(learners=args.learners, messages=args.messages))
    print(
        f"planning {figures['learners']:.0f} learners: {figures['planning_seconds']:.1f} s wall,"
        f" {figures['planning_cpu_seconds']:.1f} s CPU (target < 30 s on one core),"
        f" {figures['planned']:.0f} nudges, {figures['planned_again']:.0f} more when planned"
        " again (target 0)"
    )
    print(f"the week after, the planner running on: {figures['next_week_cpu_seconds']:.1f} s CPU")
    print(
        f"dispatcher ceiling, sending stubbed: {figures['dispatch_per_second']:.0f} messages/s"
        f" wall ({figures['dispatch_per_cpu_second']:.0f} per CPU second)"
        f" = {figures['ceiling_over_telegram_rate']:.1f} x Telegram's 30/s (target >= 20 x)"
    )
    found = asyncio.run(postgres_figures(postgres=args.postgres, learners=args.learners))
    if found:
        print(table(found))


if __name__ == "__main__":
    main()
