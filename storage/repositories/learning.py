"""Repositories for quick-scan theme levels and STARR reflections."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Reflection, ThemeLevel


class ThemeLevelRepository(Protocol):
    async def of_user(self, user_id: int) -> list[ThemeLevel]: ...
    async def put(self, level: ThemeLevel) -> ThemeLevel: ...


class ReflectionRepository(Protocol):
    async def add(self, reflection: Reflection) -> Reflection: ...
    async def get(self, reflection_id: int) -> Reflection | None: ...
    async def draft_of(self, learner_id: int) -> Reflection | None: ...
    async def done_of(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Reflection]: ...
    async def count_done(self, learner_id: int) -> int: ...
    async def delete(self, reflection: Reflection) -> None: ...


class SqlThemeLevelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_user(self, user_id: int) -> list[ThemeLevel]:
        query = select(ThemeLevel).where(ThemeLevel.user_id == user_id)
        return list(await self.session.scalars(query))

    async def put(self, level: ThemeLevel) -> ThemeLevel:
        """Adds or replaces the level of one theme."""
        return await self.session.merge(level)


class SqlReflectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, reflection: Reflection) -> Reflection:
        self.session.add(reflection)
        await self.session.flush()
        return reflection

    async def get(self, reflection_id: int) -> Reflection | None:
        return await self.session.get(Reflection, reflection_id)

    async def draft_of(self, learner_id: int) -> Reflection | None:
        query = select(Reflection).where(
            Reflection.learner_id == learner_id, Reflection.status == "draft"
        )
        return (await self.session.scalars(query.order_by(Reflection.id.desc()))).first()

    async def done_of(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Reflection]:
        """Finished reflections, newest first."""
        query = (
            select(Reflection)
            .where(Reflection.learner_id == learner_id, Reflection.status == "done")
            .order_by(Reflection.created_at.desc(), Reflection.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def count_done(self, learner_id: int) -> int:
        query = select(func.count()).where(
            Reflection.learner_id == learner_id, Reflection.status == "done"
        )
        return int(await self.session.scalar(query) or 0)

    async def delete(self, reflection: Reflection) -> None:
        await self.session.delete(reflection)
