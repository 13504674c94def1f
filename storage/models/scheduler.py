"""What the scheduler keeps besides the outbox: holidays a coach enters for the programme."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class ProgrammeHoliday(Base):
    """A day without nudges for the whole programme (a school holiday, a closing day)."""

    __tablename__ = "programme_holidays"

    day: Mapped[date] = mapped_column(unique=True)
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    name: Mapped[str | None] = mapped_column(String(80), default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
