"""What several flows share: groups and memberships, learner preferences, uploaded files,
signals (the activity log the risk view reads) and coach feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class Group(Base):
    """A learning group (`leergroep`) with its coach and join code."""

    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(80))
    coach_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    join_code: Mapped[str] = mapped_column(String(40), unique=True)
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    session_weekday: Mapped[int | None] = mapped_column(default=None)  # Monday is 0
    session_time: Mapped[str | None] = mapped_column(String(5), default=None)  # "HH:MM"
    place: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class Membership(Base):
    """A learner in a group, with what they share with the coach. One active at a time."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_learner_active", "learner_id", "left_at"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    joined_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(default=None)
    left_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    share_goals: Mapped[bool] = mapped_column(default=False)
    share_reflections: Mapped[bool] = mapped_column(default=False)
    share_evidence: Mapped[bool] = mapped_column(default=False)


class Preferences(Base):
    """When and how often a learner wants to hear from Opstap."""

    __tablename__ = "preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    goal_weekday: Mapped[int] = mapped_column(default=0)  # day of the weekly goal prompt
    preferred_time: Mapped[str] = mapped_column(String(5), default="18:00")
    quiet_start: Mapped[str] = mapped_column(String(5), default="21:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00")
    days_off: Mapped[list[Any]] = mapped_column(default_factory=list)  # weekdays, Monday is 0
    pace: Mapped[str] = mapped_column(String(8), default="normal")  # normal | light
    paused_until: Mapped[datetime | None] = mapped_column(default=None)
    paused_indefinitely: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str | None] = mapped_column(String(40), default=None)


class Upload(Base):
    """A file a user sent, kept in the file store under a generated name."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_owner_sha", "owner_id", "sha256"),)

    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # voice | audio | photo | document | video
    relpath: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    mime_type: Mapped[str] = mapped_column(String(100))
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    duration: Mapped[int | None] = mapped_column(default=None)  # seconds, for voice and video
    #: What an offline speech-to-text engine heard (a voice note). `transcript_checked`: the
    #: learner saw it and kept it, or typed it anew (then also `transcript_corrected`).
    transcript: Mapped[str | None] = mapped_column(Text, default=None)
    transcript_checked: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    transcript_corrected: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)


class Signal(Base):
    """Something that happened to or was said by a learner, for the coach's risk view and
    timeline: a missed goal, "no time this week", an absence, a blocked bot, a barrier."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_user_at", "user_id", "at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    details: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)


class Feedback(Base):
    """A coach's answer to a goal, a reflection or a piece of evidence."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_item", "item_type", "item_id"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    item_type: Mapped[str] = mapped_column(String(16))  # goal | reflection | evidence
    item_id: Mapped[int]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(default=None)
