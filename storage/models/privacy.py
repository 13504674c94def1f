"""Privacy records: who looked at a learner's data, and anonymous tombstones of erased learners.

Access log: every time a coach opens a learner's data, the coach workspace records it with
`uow.access_log.record(coach_id=..., learner_id=..., what=..., at=ctx.now)`. `what` is a short
ASCII id of what was seen: "profile", "intake", "goals", "reflections", "evidence",
"portfolio", "timeline" or "feedback" (other ids are shown as they are). The learner sees the
list in /privacy. When the coach's account is erased, `coach_id` becomes NULL and the entry
stays; when the learner is erased, their entries go with them.

Erased learners: when a learner's data is erased (/delete, or retention), the user row and
every row linked to it are deleted for real. What stays is one `ErasedLearner` row with no
personal data: when (day), why ("delete" or "retention"), the month they joined, their role
and status before, and how many rows each table held (and signals per kind), so programme
counts (how many started, reflected, left) stay right.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AccessLog(Base):
    """A coach looked at or acted on a learner's data, or was refused. Learners see the
    allowed looks in /privacy.

    `what` is a short id: what was looked at (profile, intake, goals, reflections, evidence,
    portfolio, timeline, feedback, view) or what was done (message, reminder, listen, member,
    remove, prompt, atrisk, ...). The coach workspace writes a row for every look and every
    refusal (`allowed` False); `learner_id` is empty for refusals about a group alone.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_learner_at", "learner_id", "at"),)

    what: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    coach_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    learner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), default=None
    )
    allowed: Mapped[bool] = mapped_column(default=True)
    detail: Mapped[str | None] = mapped_column(String(80), default=None)


class ErasedLearner(Base):
    """An anonymous tombstone of an erased learner: counts only, no personal data."""

    __tablename__ = "erased_learners"

    erased_on: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    reason: Mapped[str] = mapped_column(String(16))  # delete | retention
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # status before erasure
    joined_month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    counts: Mapped[dict[str, Any]]  # {"reflections": 3, "signals": {"goal_set": 4}, ...}
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
