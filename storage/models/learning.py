"""Learning records shared across flows: the quick-scan level per theme, and STARR
reflections (written by /reflect, linked from evidence, shown to coaches)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class ThemeLevel(Base):
    """A learner's estimated level on one competence theme (from the quick scan)."""

    __tablename__ = "theme_levels"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    theme_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    score: Mapped[float]  # mean of the "I can" statements, 1 (not yet) to 4 (can teach)
    level: Mapped[str] = mapped_column(String(16))  # beginner | doorstroom | uitstroom
    measured_at: Mapped[datetime] = mapped_column(default_factory=utcnow)


class Reflection(Base):
    """A STARR reflection: Situation, Task, Action, Result, Reflection."""

    __tablename__ = "reflections"
    __table_args__ = (Index("ix_reflections_learner_status", "learner_id", "status"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    status: Mapped[str] = mapped_column(String(8), default="draft")  # draft | done
    title: Mapped[str | None] = mapped_column(String(120), default=None)
    situation: Mapped[str | None] = mapped_column(Text, default=None)
    task: Mapped[str | None] = mapped_column(Text, default=None)
    action: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[str | None] = mapped_column(Text, default=None)
    reflection: Mapped[str | None] = mapped_column(Text, default=None)
    #: Per step: voice upload ids, follow-up answers, and anything else the flow keeps.
    extra: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)
    themes: Mapped[list[Any]] = mapped_column(default_factory=list)
    competences: Mapped[list[Any]] = mapped_column(default_factory=list)
    goal_id: Mapped[int | None] = mapped_column(default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
