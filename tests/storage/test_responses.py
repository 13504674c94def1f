"""Questionnaire answers on the real database (SQLite, or PostgreSQL in CI): one row per
learner, questionnaire and version; JSON answers change by assignment."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from bot.runtime import Runtime
from storage.models import QuestionnaireResponse, User


async def test_versions_are_kept_apart_and_listed_newest_first(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        user = await uow.users.add(User(channel="t", external_id="1", language="nl"))
        for version in (1, 2):
            await uow.responses.add(
                QuestionnaireResponse(
                    user_id=user.id,
                    questionnaire="intake",
                    version=version,
                    answers={"years": version},
                )
            )
        await uow.commit()
    async with runtime.uow() as uow:
        first = await uow.responses.get(user_id=user.id, questionnaire="intake", version=1)
        assert first is not None and first.answers == {"years": 1}
        first.answers = {**first.answers, "barriers": ["time", "other"], "job": {"voice": 3}}
        await uow.commit()
    async with runtime.uow() as uow:
        found = await uow.responses.of_user(user_id=user.id, questionnaire="intake")
        assert [(r.version, r.answers) for r in found] == [
            (2, {"years": 2}),
            (1, {"years": 1, "barriers": ["time", "other"], "job": {"voice": 3}}),
        ]
        assert await uow.responses.of_user(user_id=user.id, questionnaire="quickscan") == []
        assert await uow.responses.get(user_id=user.id, questionnaire="intake", version=3) is None


async def test_one_row_per_learner_questionnaire_and_version(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        user = await uow.users.add(User(channel="t", external_id="1", language="nl"))
        await uow.responses.add(
            QuestionnaireResponse(user_id=user.id, questionnaire="intake", version=1)
        )
        with pytest.raises(IntegrityError):
            await uow.responses.add(
                QuestionnaireResponse(user_id=user.id, questionnaire="intake", version=1)
            )
