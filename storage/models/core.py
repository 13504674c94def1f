"""Users, their conversation state, processed updates and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, BigInteger, ForeignKey, Index, String, UniqueConstraint, event, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class User(Base):
    """Anyone who talks to Opstap: a learner, a coach or a coordinator, on one channel."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    chat_id: Mapped[str | None] = mapped_column(String(64), default=None)
    language_chosen: Mapped[bool] = mapped_column(default=False)
    display_name: Mapped[str | None] = mapped_column(String(64), default=None)
    #: The official name on the portfolio (asked at the first /export, prefilled from above).
    portfolio_name: Mapped[str | None] = mapped_column(String(120), default=None)
    role: Mapped[str] = mapped_column(String(16), default="learner")
    status: Mapped[str] = mapped_column(String(16), default="new")
    consent_version: Mapped[int | None] = mapped_column(default=None)
    consent_at: Mapped[datetime | None] = mapped_column(default=None)
    consent_declined_at: Mapped[datetime | None] = mapped_column(default=None)
    pending_join_code: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When the last nudge was sent (or held back): the next reply after it answers it.
    nudged_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def has_consented(self) -> bool:
        """True when the learner agreed to a consent text."""
        return self.consent_version is not None


class Conversation(Base):
    """Where a user is in a flow. Lives in the database so a restart continues it."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[str | None] = mapped_column(String(32), default=None)
    step: Mapped[str | None] = mapped_column(String(48), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default_factory=dict)
    history: Mapped[list[Any]] = mapped_column(default_factory=list)
    seq: Mapped[int] = mapped_column(default=0)
    #: Places in flows left unfinished by another command ({flow: place}), to continue later.
    drafts: Mapped[dict[str, Any]] = mapped_column(default_factory=dict, server_default="{}")
    #: The message that gave the last answer ({"ref": its channel id, "seq": the step it led
    #: to}): while nothing else happened, an edit of that message replaces the answer.
    last_answer: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default_factory=utcnow)


class ProcessedUpdate(Base):
    """An update that was handled, so it is never handled twice (Telegram's update id; a
    WhatsApp message's is negative, see bot/whatsapp.py)."""

    __tablename__ = "processed_updates"
    __table_args__ = (
        # The replies still to send after a crash: a few rows, found without a scan.
        Index(
            "ix_processed_updates_replying",
            "processed_at",
            sqlite_where=text("replies IS NOT NULL"),
            postgresql_where=text("replies IS NOT NULL"),
        ),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    #: The replies of the update, written by the transaction that handled it and cleared once
    #: the channel sent them (`bot.inbox`): a crash in between loses none, the next start
    #: sends them. {"channel": ..., "chat": ..., "replies": [`Reply.as_data()`, ...]}
    replies: Mapped[dict[str, Any] | None] = mapped_column(default=None)


#: On SQLite, recording an update takes it out of the durable inbox in the same statement
#: (SQLite has no data-modifying CTE; PostgreSQL's claim does it with one, see
#: `SqlUpdateLog.claim`). Migration 0023 creates the same trigger.
PROCESSED_LEAVES_INBOX = (
    "CREATE TRIGGER processed_updates_leave_inbox AFTER INSERT ON processed_updates "
    "BEGIN DELETE FROM inbox_updates WHERE update_id = NEW.update_id; END"
)
event.listen(
    ProcessedUpdate.__table__,
    "after_create",
    DDL(PROCESSED_LEAVES_INBOX).execute_if(dialect="sqlite"),
)


class InboxUpdate(Base):
    """An update as received, stored before it is acknowledged and until it is handled.

    The row is deleted in the transaction that handles the update (with the `update_id`
    claim), so what is left after a crash is exactly what still needs handling. An update that
    cannot be parsed, or that failed three times, stays with `set_aside_at` for an operator
    (`opstap inbox`); the retention job erases it after a week.
    """

    __tablename__ = "inbox_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column()
    #: Whose update it is ("telegram:123"), so one user's updates are handled in order.
    user_key: Mapped[str | None] = mapped_column(String(80), default=None)
    received_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    #: The type of the last error (never its message: it may quote the learner).
    error: Mapped[str | None] = mapped_column(String(80), default=None)
    set_aside_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class OutboxMessage(Base):
    """A message to send later or to another user. The one source of truth for sending.

    `payload` holds an English source string (`message`) with its `params` and optional
    `buttons` ([label, command] pairs); it is translated into the recipient's language when it
    is sent, so a language change in between is respected.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "due_at"),
        # The dispatcher's claim: what people wrote, then what the scheduler planned.
        Index("ix_outbox_status_scheduled_due", "status", "scheduled", "due_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    variant: Mapped[str | None] = mapped_column(String(32), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(255), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)  # first reply within 48 h
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)
    #: The learner this message is about (a coach notice naming them, a relayed text): the
    #: row is erased with that learner, even though it goes to someone else.
    about_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    #: The channel's id of the sent message (WhatsApp's wamid), which its status reports name.
    channel_message_id: Mapped[str | None] = mapped_column(String(128), index=True, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Planned by the scheduler (a nudge, a coach notice, a session reminder): it goes after
    #: every message a person wrote (a coach's text, a relayed answer) that is due.
    scheduled: Mapped[bool] = mapped_column(default=False, server_default=sa_false())


class SendSchedule(Base):
    """The bot's one send schedule per channel, shared by every process on PostgreSQL: the
    moment the next request may go (`bot.scheduler.SharedSchedule`). SQLite runs one process
    and keeps its schedule in memory."""

    __tablename__ = "send_schedule"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[datetime]
