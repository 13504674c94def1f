"""Repository for weekly goals."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Goal


class GoalRepository(Protocol):
    async def add(self, goal: Goal) -> Goal: ...
    async def get(self, goal_id: int) -> Goal | None: ...
    async def of_week(self, *, learner_id: int, week: str) -> Goal | None: ...
    async def last_before(self, *, learner_id: int, week: str) -> Goal | None: ...
    async def of_learner(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Goal]: ...
    async def count_reached(self, learner_id: int) -> int: ...
    async def weeks_of(self, learner_id: int) -> list[str]: ...
    async def themes_of(self, learner_id: int) -> list[str]: ...


class SqlGoalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, goal: Goal) -> Goal:
        self.session.add(goal)
        await self.session.flush()
        return goal

    async def get(self, goal_id: int) -> Goal | None:
        return await self.session.get(Goal, goal_id)

    async def of_week(self, *, learner_id: int, week: str) -> Goal | None:
        query = select(Goal).where(Goal.learner_id == learner_id, Goal.week == week)
        return (await self.session.scalars(query)).first()

    async def last_before(self, *, learner_id: int, week: str) -> Goal | None:
        """The goal of the latest week before `week` ("2026-W09" sorts before "2026-W10")."""
        query = (
            select(Goal)
            .where(Goal.learner_id == learner_id, Goal.week < week)
            .order_by(Goal.week.desc())
            .limit(1)
        )
        return (await self.session.scalars(query)).first()

    async def of_learner(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Goal]:
        """Goals, newest week first."""
        query = (
            select(Goal)
            .where(Goal.learner_id == learner_id)
            .order_by(Goal.week.desc())
            .offset(offset)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def count_reached(self, learner_id: int) -> int:
        query = select(func.count()).where(
            Goal.learner_id == learner_id, Goal.outcome == "reached"
        )
        return int(await self.session.scalar(query) or 0)

    async def weeks_of(self, learner_id: int) -> list[str]:
        """The weeks with a goal (the learner's active weeks), oldest first."""
        query = select(Goal.week).where(Goal.learner_id == learner_id).order_by(Goal.week)
        return list(await self.session.scalars(query))

    async def themes_of(self, learner_id: int) -> list[str]:
        """The theme of every goal so far, oldest first."""
        query = select(Goal.theme_id).where(Goal.learner_id == learner_id).order_by(Goal.week)
        return list(await self.session.scalars(query))
