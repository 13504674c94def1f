"""The EVC portfolio: pieces of evidence (`bewijsstukken`) and the lines of a learner's CV."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class Evidence(Base):
    """One piece of evidence: a file, a link or a text, with what it shows and the
    learner's own checks against the five quality criteria."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("learner_id", "number"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    number: Mapped[int]  # 1, 2, 3 ... per learner: "piece 3"
    kind: Mapped[str] = mapped_column(String(32))  # an evidence type id (evidence.yaml)
    media: Mapped[str] = mapped_column(String(16))  # photo|document|voice|video|link|text
    title: Mapped[str] = mapped_column(String(120))
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    #: A short description in the learner's words (typed, or spoken: `description_upload_id`).
    description: Mapped[str | None] = mapped_column(Text, default=None)
    description_upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
    period_start: Mapped[str | None] = mapped_column(String(7), default=None)  # YYYY or YYYY-MM
    period_end: Mapped[str | None] = mapped_column(String(7), default=None)
    organisation: Mapped[str | None] = mapped_column(String(120), default=None)
    role: Mapped[str | None] = mapped_column(String(120), default=None)
    themes: Mapped[list[Any]] = mapped_column(default_factory=list)
    competences: Mapped[list[Any]] = mapped_column(default_factory=list)
    #: criterion id -> "yes" | "no" | "unsure" (the learner's own check).
    checks: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)
    #: None when the type needs no check; False until the learner removed client details.
    privacy_confirmed: Mapped[bool | None] = mapped_column(default=None)
    reflection_id: Mapped[int | None] = mapped_column(
        ForeignKey("reflections.id", ondelete="SET NULL"), default=None
    )
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default_factory=utcnow)


class CvEntry(Base):
    """A line of the portfolio's CV: work, volunteering or a training."""

    __tablename__ = "cv_entries"

    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # work | volunteering | training
    organisation: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(120))
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    start: Mapped[str | None] = mapped_column(String(7), default=None)  # YYYY or YYYY-MM
    end: Mapped[str | None] = mapped_column(String(7), default=None)  # None: still going on
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
