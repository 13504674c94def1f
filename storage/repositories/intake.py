"""Repository for questionnaire answers."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import QuestionnaireResponse


class ResponseRepository(Protocol):
    async def add(self, response: QuestionnaireResponse) -> QuestionnaireResponse: ...
    async def get(
        self, *, user_id: int, questionnaire: str, version: int
    ) -> QuestionnaireResponse | None: ...
    async def of_user(
        self, *, user_id: int, questionnaire: str
    ) -> list[QuestionnaireResponse]: ...


class SqlResponseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, response: QuestionnaireResponse) -> QuestionnaireResponse:
        self.session.add(response)
        await self.session.flush()
        return response

    async def get(
        self, *, user_id: int, questionnaire: str, version: int
    ) -> QuestionnaireResponse | None:
        query = select(QuestionnaireResponse).where(
            QuestionnaireResponse.user_id == user_id,
            QuestionnaireResponse.questionnaire == questionnaire,
            QuestionnaireResponse.version == version,
        )
        return (await self.session.scalars(query)).first()

    async def of_user(self, *, user_id: int, questionnaire: str) -> list[QuestionnaireResponse]:
        """Every version the learner answered, newest version first."""
        query = (
            select(QuestionnaireResponse)
            .where(
                QuestionnaireResponse.user_id == user_id,
                QuestionnaireResponse.questionnaire == questionnaire,
            )
            .order_by(QuestionnaireResponse.version.desc())
        )
        return list(await self.session.scalars(query))
