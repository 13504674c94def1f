"""The coach workspace: coach invitations, the access log, sessions, risk snoozes and
summaries, and group reflection prompts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow
from storage.models.programme import Signal

#: The risk view reads signals per learner and kind; this index keeps that set-based query fast.
SIGNALS_BY_KIND = Index("ix_signals_user_kind_at", Signal.user_id, Signal.kind, Signal.at)


class CoachInvite(Base):
    """A one-time invitation to become a coach (or a coordinator). Only a hash of the code
    is kept."""

    __tablename__ = "coach_invites"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    name: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    #: The role the invitation gives: "coach" or "coordinator".
    role: Mapped[str] = mapped_column(String(16), default="coach", server_default="coach")


class CoachInviteFailure(Base):
    """A wrong or used coach code someone tried: failed attempts are rate-limited."""

    __tablename__ = "coach_invite_failures"
    __table_args__ = (Index("ix_coach_invite_failures_user_at", "user_id", "at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)


class GroupSession(Base):
    """One planned meeting of a learning group."""

    __tablename__ = "group_sessions"
    __table_args__ = (Index("ix_group_sessions_group_starts", "group_id", "starts_at"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    attendance_at: Mapped[datetime | None] = mapped_column(default=None)


class RiskSnooze(Base):
    """A coach put a learner aside in the risk view until a date."""

    __tablename__ = "risk_snoozes"

    learner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    coach_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    until: Mapped[datetime]


class RiskSummary(Base):
    """What the risk view needs of one learner's signals, one row per learner, kept up to
    date in the transaction that records each signal (`storage.risk_summary`), so /atrisk
    reads one row per learner instead of ten index lookups."""

    __tablename__ = "risk_summaries"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    #: The last signal of each kind the risk view reads.
    last_session_absent: Mapped[datetime | None] = mapped_column(default=None)
    last_session_present: Mapped[datetime | None] = mapped_column(default=None)
    last_asked_for_coach: Mapped[datetime | None] = mapped_column(default=None)
    last_checkin_no_time: Mapped[datetime | None] = mapped_column(default=None)
    last_checkin_stuck: Mapped[datetime | None] = mapped_column(default=None)
    last_coach_contact: Mapped[datetime | None] = mapped_column(default=None)
    #: The last goal reached or partly reached.
    last_goal_outcome: Mapped[datetime | None] = mapped_column(default=None)
    #: The goals missed after it (at most 90 days before the newest), as UTC times in one
    #: fixed-width ISO format, oldest first, separated by spaces: they compare as text.
    missed: Mapped[str] = mapped_column(Text, default="")
    #: The barriers named in the intake, in the order of their signals, separated by spaces.
    barriers: Mapped[str] = mapped_column(Text, default="")
    #: The time of the last barrier signal folded in (an earlier one makes a recount).
    barriers_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Derived from `missed` and `barriers` whenever they change (`storage.risk_summary`),
    #: so /atrisk compares columns instead of searching text: the newest, second and
    #: third newest missed goal, and how many different counted barriers were named.
    missed_1: Mapped[datetime | None] = mapped_column(default=None)
    missed_2: Mapped[datetime | None] = mapped_column(default=None)
    missed_3: Mapped[datetime | None] = mapped_column(default=None)
    barrier_count: Mapped[int] = mapped_column(default=0, server_default="0")


class GroupPrompt(Base):
    """A reflection question a coach sent to a whole group, with translations."""

    __tablename__ = "group_prompts"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    translations: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)


class PromptAnswer(Base):
    """A learner's answer to a group prompt."""

    __tablename__ = "prompt_answers"
    __table_args__ = (Index("ix_prompt_answers_prompt_learner", "prompt_id", "learner_id"),)

    prompt_id: Mapped[int] = mapped_column(ForeignKey("group_prompts.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
