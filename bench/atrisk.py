"""How much database time /atrisk needs for a coach with 10,000 learners (PRODUCT.md: 100 ms;
issue 14: 20 ms on SQLite, 50 ms on PostgreSQL) and with 100,000 (issue 14: 300 ms).

    .venv/bin/python -m bench.atrisk [--learners 10000] [--large 100000]
                                     [--postgres postgresql+asyncpg://...]

`make bench` runs it on SQLite (a temporary file), and also on PostgreSQL with POSTGRES=URL
(its tables are dropped and recreated); without one the PostgreSQL figure is skipped with a
printed reason.

Seeds two coaches with as many learners each (the measured coach owns half of the database),
in groups of 10 active learners and one who left; a few paused, unreachable or snoozed; each
with 15 signals of the kinds the score reads (and others) over 8 weeks and 0 to 3 intake
barriers. At the first size the signals go into the signals table and the summaries are built
from it as the migration does; at the large size only the summaries are stored, folded from the
same kind of signals in memory (`storage.risk_summary.fold`, the function every write path
uses), since the risk query reads no signal. Then it runs /atrisk's query (`risk_page`: the
first page of 8 in risk order, in a read-only unit of work) five times on a new engine, and
prints the median database time (cursor execution and fetching, measured with SQLAlchemy
events), the first, cold one, and the CPU of this process meanwhile. For comparison it also
prints the time of loading every learner's facts, which /atrisk did before ordering in SQL.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, insert, text

from bench.common import Figure
from flows import signals as S
from flows.coach.risk import PAGE, RISK_KINDS, RULES, WINDOW
from storage.db import create_engine, create_sessionmaker
from storage.models import Base, Group, Membership, RiskSnooze, RiskSummary, Signal, User
from storage.risk_summary import LAST_COLUMNS, backfill, fold
from storage.uow import SqlUnitOfWork

BUDGET_MS = 100.0
#: Coaches in the database, each with as many learners as the one measured.
COACHES = 2
#: Active learners per group; each group also has one learner who left.
GROUP = 10
KINDS = (
    S.GOAL_SET,
    S.GOAL_REACHED,
    S.GOAL_PARTLY,
    S.GOAL_MISSED,
    S.GOAL_MISSED,
    S.CHECKIN_NO_TIME,
    S.CHECKIN_STUCK,
    S.ASKED_FOR_COACH,
    S.COACH_CONTACT,
    S.REFLECTION_SAVED,
    S.SESSION_PRESENT,
    S.SESSION_ABSENT,
    S.NUDGE_SENT,
)
NOW = datetime(2026, 3, 3, 9, tzinfo=UTC)


def _signals(rng: random.Random, user_id: int, now: datetime) -> list[dict[str, Any]]:
    """One learner's signals: 15 over 8 weeks, then 0 to 3 intake barriers."""
    rows: list[dict[str, Any]] = [
        {
            "user_id": user_id,
            "kind": rng.choice(KINDS),
            "at": now - timedelta(hours=rng.randint(0, 24 * 56)),
            "details": {},
        }
        for _ in range(15)
    ]
    named = rng.choices((0, 1, 2, 3), weights=(40, 30, 20, 10))[0]
    for barrier in rng.sample(S.BARRIERS, named):
        rows.append(
            {
                "user_id": user_id,
                "kind": S.BARRIER,
                "at": now - timedelta(days=56),
                "details": {"barrier": barrier},
            }
        )
    return rows


def _summary(user_id: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The learner's risk summary, folded from their signals as every write path does."""
    summary = SimpleNamespace(
        **{column: None for column in LAST_COLUMNS.values()},
        last_goal_outcome=None,
        missed="",
        barriers="",
        barriers_at=None,
        missed_1=None,
        missed_2=None,
        missed_3=None,
        barrier_count=0,
    )
    for row in sorted(rows, key=lambda r: r["at"]):
        fold(summary, row["kind"], row["at"], row["details"])
    return {"user_id": user_id, **vars(summary)}


async def seed(
    url: str, learners: int, now: datetime, *, coaches: int = COACHES, signals: bool = True
) -> int:
    """`coaches` coaches with `learners` active learners each; returns the first coach's id
    (the one measured). With `signals` the signals are stored and the summaries built from
    them; without, only the summaries are stored."""
    engine = create_engine(url)
    rng = random.Random(7)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(
            insert(User),
            [
                {
                    "id": 1 + c,
                    "channel": "b",
                    "external_id": f"coach{c}",
                    "language": "en",
                    "role": "coach",
                    "created_at": now,
                }
                for c in range(coaches)
            ],
        )
        per_coach = (learners + GROUP - 1) // GROUP
        groups = per_coach * coaches
        await connection.execute(
            insert(Group),
            [
                {
                    "id": 1 + g,
                    "name": f"G{g}",
                    "coach_id": 1 + g // per_coach,
                    "join_code": f"j{g}",
                    "created_at": now,
                }
                for g in range(groups)
            ],
        )
        first = coaches + 1
        # Each group: GROUP active learners, then one who left.
        places = [
            (1 + g, slot == GROUP)
            for g in range(groups)
            for slot in range(GROUP + 1)
            if slot == GROUP or g % per_coach * GROUP + slot < learners
        ]
        total = len(places)
        batch = 20_000
        for start in range(0, total, batch):
            chunk = range(start, min(start + batch, total))
            await connection.execute(
                insert(User),
                [
                    {
                        "id": first + i,
                        "channel": "b",
                        "external_id": str(i),
                        "language": "nl",
                        "display_name": f"L{i}",
                        "status": rng.choices(
                            ("active", "paused", "unreachable"), weights=(90, 5, 5)
                        )[0],
                        "created_at": now,
                        "last_seen_at": now - timedelta(hours=rng.randint(0, 24 * 30)),
                    }
                    for i in chunk
                ],
            )
            await connection.execute(
                insert(Membership),
                [
                    {
                        "group_id": places[i][0],
                        "learner_id": first + i,
                        "joined_at": now - timedelta(days=60),
                        "left_at": now - timedelta(days=10) if places[i][1] else None,
                    }
                    for i in chunk
                ],
            )
            snoozed = [i for i in chunk if rng.random() < 0.03]
            if snoozed:
                await connection.execute(
                    insert(RiskSnooze),
                    [
                        {
                            "learner_id": first + i,
                            "coach_id": 1 + (places[i][0] - 1) // per_coach,
                            "until": now + timedelta(days=rng.choice((-2, 3))),
                        }
                        for i in snoozed
                    ],
                )
            history = {first + i: _signals(rng, first + i, now) for i in chunk}
            if signals:
                rows = [row for rows in history.values() for row in rows]
                for at in range(0, len(rows), batch):
                    await connection.execute(insert(Signal), rows[at : at + batch])
            else:
                await connection.execute(
                    insert(RiskSummary),
                    [_summary(user_id, rows) for user_id, rows in history.items()],
                )
        if signals:  # the signals went in directly: the summaries are built as the migration does
            await connection.run_sync(backfill)
    if engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return 1


async def measure(
    url: str, work: Callable[[SqlUnitOfWork], Awaitable[int]], *, times: int = 5
) -> tuple[list[float], list[float], int]:
    """Runs `work` `times` times on a new engine, each in a read-only unit of work; the
    database time (wall and CPU) of each, and what the last returned."""
    engine = create_engine(url)
    spent = [0.0, 0.0]

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["t0"] = (time.perf_counter(), time.process_time())

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        wall, cpu = conn.info.pop("t0")
        spent[0] += time.perf_counter() - wall
        spent[1] += time.process_time() - cpu

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    sessionmaker = create_sessionmaker(engine)
    walls, cpus, result = [], [], 0
    for _ in range(times):  # the first on a new engine (cold), then the others
        async with SqlUnitOfWork(sessionmaker, read_only=True) as uow:
            await uow.session.connection()  # BEGIN is not the query's time
            spent[0] = spent[1] = 0.0
            result = await work(uow)
        walls.append(spent[0] * 1000)
        cpus.append(spent[1] * 1000)
    await engine.dispose()
    return walls, cpus, result


async def first_page(uow: SqlUnitOfWork, coach_id: int = 1, now: datetime = NOW) -> int:
    """/atrisk's own query: the first page in risk order."""
    page, _ = await uow.coaching.risk_page(
        coach_id=coach_id, now=now, rules=RULES, offset=0, limit=PAGE
    )
    if len(page) != PAGE:
        raise RuntimeError("the risk page is short")
    return len(page)


async def every_learner(uow: SqlUnitOfWork, coach_id: int = 1, now: datetime = NOW) -> int:
    """Every learner's facts, for ordering in Python (what /atrisk did before)."""
    facts = await uow.coaching.risk_facts(coach_id=coach_id, since=now - WINDOW, kinds=RISK_KINDS)
    return len(facts)


async def _figures(
    label: str, url: str, learners: int, target: float, *, title: str, signals: bool
) -> list[Figure]:
    name = "/atrisk"
    await seed(url, learners, NOW, signals=signals)
    walls, cpus, _ = await measure(url, first_page)
    figures = [
        Figure(
            name,
            f"{title} ({learners:,} of {learners * COACHES:,}, median of 5)",
            statistics.median(walls),
            "ms",
            target,
        ),
        Figure(
            name,
            f"{label}, {learners:,}: first query (cold engine)",
            walls[0],
            "ms",
            better="none",
        ),
        Figure(
            name,
            f"{label}, {learners:,}: CPU of this process",
            statistics.median(cpus),
            "ms",
            better="none",
        ),
    ]
    if signals:
        walls, _, count = await measure(url, every_learner)
        if count != learners:
            raise RuntimeError(f"{count} learners found, {learners} seeded")
        figures.append(
            Figure(
                name,
                f"{label}, {learners:,}: loading every learner (before)",
                statistics.median(walls),
                "ms",
                better="none",
            )
        )
    return figures


async def run(
    *,
    learners: int,
    large: int | None = None,
    url: str | None = None,
    postgres: str | None = None,
) -> list[Figure]:
    """Measures /atrisk's query for a coach of `learners` on SQLite (a temporary file, or
    `url`) and on PostgreSQL when given, then for a coach of `large` learners (100,000 at
    full scale) on each."""
    large = large or 100_000
    scale = "" if large == 100_000 else " (small scale; the target is for 100,000)"
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as folder:
        places = [("SQLite", url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", 20.0)]
        if postgres:
            places.append(("PostgreSQL", postgres, 50.0))
        else:
            print(
                f"/atrisk SQL on PostgreSQL, {learners:,}: skipped, no PostgreSQL given "
                "(make bench POSTGRES=URL, or --postgres URL)"
            )
        for label, where, target in places:
            figures += await _figures(
                label,
                where,
                learners,
                target,
                title=f"/atrisk SQL on {label}, {learners:,}",
                signals=True,
            )
        for label, where, _ in places:
            figures += await _figures(
                label,
                where,
                large,
                300.0,
                title=f"/atrisk at {large:,} on {label}{scale}",
                signals=False,
            )
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--postgres", default=None, help="also on this PostgreSQL database")
    args = parser.parse_args()
    figures = await run(learners=args.learners, large=args.large, postgres=args.postgres)
    for f in figures:
        print(
            f"{f.name}: {f.value:.1f} {f.unit}" + (f" (target {f.target:g})" if f.target else "")
        )


if __name__ == "__main__":
    asyncio.run(main())
