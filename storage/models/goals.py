"""Weekly goals: one small, concrete goal per learner per ISO week, its check-in and its
look back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class Goal(Base):
    """A learner's goal for one week ("2026-W10", in the programme time zone)."""

    __tablename__ = "goals"
    __table_args__ = (UniqueConstraint("learner_id", "week", name="uq_goals_learner_week"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    week: Mapped[str] = mapped_column(String(8))
    theme_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    example_id: Mapped[str | None] = mapped_column(String(40), default=None)
    voice_upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
    weekday: Mapped[int | None] = mapped_column(default=None)  # Monday is 0
    first_step: Mapped[str | None] = mapped_column(Text, default=None)
    confidence: Mapped[int | None] = mapped_column(default=None)  # 1 to 5
    checkin: Mapped[str | None] = mapped_column(
        String(12), default=None
    )  # done|busy|stuck|no_time
    checkin_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(8), default=None)  # reached|partly|missed
    helped: Mapped[list[Any]] = mapped_column(default_factory=list)  # option ids and free text
    hindered: Mapped[list[Any]] = mapped_column(default_factory=list)
    looked_back_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Voice note upload ids (goal, first step, free answers) and anything else the flow keeps.
    extra: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
