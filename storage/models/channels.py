"""What a channel adapter keeps between messages: the choices last offered on WhatsApp as
numbered lines (more than a list message holds), so that a typed number picks the right one.
Erased with the user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class NumberedChoices(Base):
    """The choices last offered to one user as numbered lines: [[label, data], ...]."""

    __tablename__ = "numbered_choices"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    choices: Mapped[list[Any]] = mapped_column(default_factory=list)
    offered_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
