"""Questionnaire answers (the intake, the quick scan): one row per learner, questionnaire and
version, so a changed questionnaire never touches older answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class QuestionnaireResponse(Base):
    """A learner's answers to one version of a questionnaire, stored as they are given."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (UniqueConstraint("user_id", "questionnaire", "version"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    questionnaire: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    #: question id -> answer (option id, option ids, text, number, ISO date,
    #: {"voice": upload id}, or None when skipped)
    answers: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)
    #: What was derived from the answers when they were completed (route, flags, levels).
    results: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)
    #: The group whose join code brought the learner here (outreach intake), if any.
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), default=None
    )
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    started_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
