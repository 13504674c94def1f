"""How much database time /atrisk needs for a coach with 10,000 learners (PRODUCT.md: 100 ms;
issue 14: 20 ms on SQLite, 50 ms on PostgreSQL).

    .venv/bin/python -m bench.atrisk [--learners 10000] [--postgres postgresql+asyncpg://...]

`make bench` runs it on SQLite (a temporary file), and on PostgreSQL with POSTGRES=URL.

Seeds two coaches with groups of 10 learners each (the measured coach owns half of the
database), each learner with 15 signals over 8 weeks and an intake barrier, then runs the risk
query five times on a new engine and prints the median database time (time spent in cursor
execution and fetching, measured with SQLAlchemy events) and the first, cold one. Prints
numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

from bench.common import Figure
from flows.coach.risk import RISK_KINDS
from storage.db import create_engine, create_sessionmaker
from storage.models import Base, Group, Membership, Signal, User
from storage.risk_summary import backfill
from storage.uow import SqlUnitOfWork

BUDGET_MS = 100.0
#: Coaches in the database, each with as many learners as the one measured.
COACHES = 2
KINDS = (
    "goal_set",
    "goal_reached",
    "goal_missed",
    "checkin_no_time",
    "reflection_saved",
    "session_present",
    "session_absent",
    "nudge_sent",
)


async def seed(url: str, learners: int, now: datetime, *, coaches: int = COACHES) -> int:
    """`coaches` coaches with `learners` learners each, in groups of 10; returns the first
    coach's id (the one measured)."""
    engine = create_engine(url)
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
        total = learners * coaches
        groups = (total + 9) // 10
        await connection.execute(
            insert(Group),
            [
                {
                    "id": 1 + g,
                    "name": f"G{g}",
                    "coach_id": 1 + (g * 10) // learners,
                    "join_code": f"j{g}",
                    "created_at": now,
                }
                for g in range(groups)
            ],
        )
        rng = random.Random(7)
        first = coaches + 1
        await connection.execute(
            insert(User),
            [
                {
                    "id": first + i,
                    "channel": "b",
                    "external_id": str(i),
                    "language": "nl",
                    "display_name": f"L{i}",
                    "status": "active",
                    "created_at": now,
                    "last_seen_at": now - timedelta(days=rng.randint(0, 30)),
                }
                for i in range(total)
            ],
        )
        await connection.execute(
            insert(Membership),
            [
                {
                    "group_id": 1 + i // 10,
                    "learner_id": first + i,
                    "joined_at": now - timedelta(days=60),
                }
                for i in range(total)
            ],
        )
        rows: list[dict[str, Any]] = []
        for i in range(total):
            for _ in range(15):
                at = now - timedelta(hours=rng.randint(0, 24 * 56))
                rows.append(
                    {"user_id": first + i, "kind": rng.choice(KINDS), "at": at, "details": {}}
                )
            rows.append(
                {
                    "user_id": first + i,
                    "kind": "barrier",
                    "at": now,
                    "details": {"barrier": "shifts"},
                }
            )
            if len(rows) >= 20_000:
                await connection.execute(insert(Signal), rows)
                rows = []
        if rows:
            await connection.execute(insert(Signal), rows)
        # The signals went in directly: the summaries are built as the migration does.
        await connection.run_sync(backfill)
    if engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return 1


async def measure(url: str, coach_id: int, now: datetime) -> tuple[list[float], list[float], int]:
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
    walls, cpus, count = [], [], 0
    for _ in range(5):  # the first on a new engine (cold), then four more
        spent[0] = spent[1] = 0.0
        async with SqlUnitOfWork(sessionmaker) as uow:
            facts = await uow.coaching.risk_facts(
                coach_id=coach_id, since=now - timedelta(days=28), kinds=RISK_KINDS
            )
        walls.append(spent[0] * 1000)
        cpus.append(spent[1] * 1000)
        count = len(facts)
    await engine.dispose()
    return walls, cpus, count


async def run(
    *, learners: int, url: str | None = None, postgres: str | None = None
) -> list[Figure]:
    """Seeds COACHES coaches with `learners` learners each and measures the first coach's
    risk query: on SQLite (a temporary file, or `url`), and on PostgreSQL when given."""
    name = "/atrisk"
    figures: list[Figure] = []
    now = datetime(2026, 3, 3, 9, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        places = [("SQLite", url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", 20.0)]
        if postgres:
            places.append(("PostgreSQL", postgres, 50.0))
        for label, where, target in places:
            coach_id = await seed(where, learners, now)
            walls, cpus, count = await measure(where, coach_id, now)
            figures += [
                Figure(
                    name,
                    f"SQL on {label}, {count:,} of {count * COACHES:,} learners, median of 5",
                    statistics.median(walls),
                    "ms",
                    target,
                ),
                Figure(name, f"{label}: first query (cold engine)", walls[0], "ms", better="none"),
                Figure(
                    name,
                    f"{label}: CPU of this process",
                    statistics.median(cpus),
                    "ms",
                    better="none",
                ),
            ]
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--postgres", default=None, help="also on this PostgreSQL database")
    args = parser.parse_args()
    for f in await run(learners=args.learners, postgres=args.postgres):
        print(
            f"{f.name}: {f.value:.1f} {f.unit}" + (f" (target {f.target:g})" if f.target else "")
        )


if __name__ == "__main__":
    asyncio.run(main())
