"""On PostgreSQL the planner's batch reads are planned for the ids they name. asyncpg prepares
every statement, and after five runs PostgreSQL may switch a prepared statement to its generic
plan; for the weekly counts of 2,000 learners that plan scanned the outbox by due time and
compared every row with every id (1.5 to 2.4 s a batch at 20,000 learners, seen in
`bench.nudges --postgres`, instead of 20 ms). With so few rows PostgreSQL would keep its custom
plans anyway, so the test first tells it to use generic plans, as it chose to with many rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from flows import nudges
from flows import signals as S
from storage.db import create_engine, create_sessionmaker, is_sqlite
from storage.uow import SqlUnitOfWork

NOW = datetime(2026, 3, 16, 6, tzinfo=UTC)
SPARSE = list(range(1, 600, 3))  # named one by one, as in a daily round (not a range)


async def test_planning_reads_never_take_a_generic_plan(schema: str) -> None:
    if is_sqlite(schema):
        pytest.skip("PostgreSQL only: SQLite plans each statement when it is prepared")
    engine = create_engine(schema)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with SqlUnitOfWork(sessionmaker) as uow:
            # PostgreSQL's own choice with many rows, for this transaction (rolled back).
            await uow.session.execute(text("SET plan_cache_mode = force_generic_plan"))
            reads = uow.scheduler
            for _ in range(8):  # more than the five custom plans before a generic one
                await reads.signals_of(SPARSE, since=NOW, kinds=[S.GOAL_SET])
                await reads.coaches_of(SPARSE)
                await reads.preferences_of(set(SPARSE))
                await reads.nudge_counts(
                    SPARSE, start=NOW, end=NOW + timedelta(days=7), kinds=nudges.NUDGE_KINDS
                )
                await reads.planned_nudges(SPARSE, start=NOW, kinds=nudges.NUDGE_KINDS)
                await reads.notices_about(SPARSE, kinds=nudges.COACH_KINDS)
            plans = (
                await uow.session.execute(
                    text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                        " WHERE generic_plans + custom_plans >= 8 AND statement LIKE 'SELECT %'"
                    )
                )
            ).all()
            assert len(plans) == 6, plans  # the six reads, each run eight times
            assert all(generic == 0 for generic, _ in plans), plans
            assert await uow.session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        # Only for that transaction: the next one plans as PostgreSQL chooses.
        async with SqlUnitOfWork(sessionmaker) as uow:
            assert await uow.session.scalar(text("SHOW plan_cache_mode")) == "auto"
    finally:
        await engine.dispose()
