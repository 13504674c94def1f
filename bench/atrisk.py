"""How much database time /atrisk needs for a coach with 10,000 learners (budget: 100 ms).

    .venv/bin/python -m bench.atrisk [--learners 10000] [--url postgresql+asyncpg://...]

`make bench` runs it on SQLite (a temporary file) and prints the figure beside the target.

Seeds one coach with groups of 10 learners, each with 15 signals over 8 weeks and an intake
barrier, then runs the risk query five times and prints the database time of the best run (time
spent in cursor execution and fetching, measured with SQLAlchemy events), as wall-clock and as
CPU time, and the ratio to the budget. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
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
from storage.uow import SqlUnitOfWork

BUDGET_MS = 100.0
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


async def seed(url: str, learners: int, now: datetime) -> int:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(
            insert(User),
            [
                {
                    "channel": "b",
                    "external_id": "coach",
                    "language": "en",
                    "role": "coach",
                    "created_at": now,
                }
            ],
        )
        coach_id = 1
        groups = learners // 10
        await connection.execute(
            insert(Group),
            [
                {"name": f"G{i}", "coach_id": coach_id, "join_code": f"j{i}", "created_at": now}
                for i in range(groups)
            ],
        )
        rng = random.Random(7)
        await connection.execute(
            insert(User),
            [
                {
                    "channel": "b",
                    "external_id": str(i),
                    "language": "nl",
                    "display_name": f"L{i}",
                    "status": "active",
                    "created_at": now,
                    "last_seen_at": now - timedelta(days=rng.randint(0, 30)),
                }
                for i in range(learners)
            ],
        )
        await connection.execute(
            insert(Membership),
            [
                {
                    "group_id": 1 + i // 10,
                    "learner_id": 2 + i,
                    "joined_at": now - timedelta(days=60),
                }
                for i in range(learners)
            ],
        )
        rows: list[dict[str, Any]] = []
        for i in range(learners):
            for _ in range(15):
                at = now - timedelta(hours=rng.randint(0, 24 * 56))
                rows.append({"user_id": 2 + i, "kind": rng.choice(KINDS), "at": at, "details": {}})
            rows.append(
                {"user_id": 2 + i, "kind": "barrier", "at": now, "details": {"barrier": "shifts"}}
            )
        for start in range(0, len(rows), 20_000):
            await connection.execute(insert(Signal), rows[start : start + 20_000])
    if engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return coach_id


async def measure(url: str, coach_id: int, now: datetime) -> tuple[float, float, int]:
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
    best, best_cpu, count = float("inf"), float("inf"), 0
    for _ in range(5):
        spent[0] = spent[1] = 0.0
        async with SqlUnitOfWork(sessionmaker) as uow:
            facts = await uow.coaching.risk_facts(
                coach_id=coach_id, since=now - timedelta(days=28), kinds=RISK_KINDS
            )
        best, best_cpu = min(best, spent[0] * 1000), min(best_cpu, spent[1] * 1000)
        count = len(facts)
    await engine.dispose()
    return best, best_cpu, count


async def run(*, learners: int, url: str | None = None) -> list[Figure]:
    """Seeds a coach with `learners` learners and measures the risk query (SQLite by default)."""
    with tempfile.TemporaryDirectory() as folder:
        url = url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        now = datetime(2026, 3, 3, 9, tzinfo=UTC)
        coach_id = await seed(url, learners, now)
        best, cpu, count = await measure(url, coach_id, now)
    name = "/atrisk"
    return [
        Figure(name, f"risk query DB time, {count:,} learners (best of 5)", best, "ms", BUDGET_MS),
        Figure(name, "same, CPU time of this process", cpu, "ms", better="none"),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    now = datetime(2026, 3, 3, 9, tzinfo=UTC)
    coach_id = await seed(url, args.learners, now)
    best, cpu, count = await measure(url, coach_id, now)
    print(f"/atrisk risk query: {count} learners, best of 5 runs")
    print(f"database time, wall clock: {best:.1f} ms (ratio to the budget {best / BUDGET_MS:.2f})")
    print(f"database time, CPU of this process: {cpu:.1f} ms (ratio {cpu / BUDGET_MS:.2f})")
    print("(SQLite runs in this process; the wall clock also counts waiting for a busy CPU)")


if __name__ == "__main__":
    asyncio.run(main())
