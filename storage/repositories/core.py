"""Repositories for users, conversations, processed updates and the outbox.

Repositories read and write through the session; they never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Conversation,
    InboxUpdate,
    OutboxMessage,
    ProcessedUpdate,
    User,
)


class UserRepository(Protocol):
    async def get(self, user_id: int) -> User | None: ...
    async def by_external(self, *, channel: str, external_id: str) -> User | None: ...
    async def add(self, user: User) -> User: ...


class ConversationRepository(Protocol):
    async def get(self, user_id: int) -> Conversation | None: ...
    async def add(self, conversation: Conversation) -> Conversation: ...
    async def save(self, conversation: Conversation, columns: Collection[str]) -> None: ...


class UpdateLog(Protocol):
    async def seen(self, update_id: int) -> bool: ...
    async def record(self, update_id: int, *, at: datetime) -> None: ...
    async def claim(self, update_id: int, *, at: datetime) -> bool: ...
    async def keep_replies(self, update_id: int, replies: dict[str, Any]) -> None: ...
    async def replies_sent(self, update_ids: Collection[int]) -> None: ...
    async def replies_to_send(self) -> list[tuple[int, datetime, dict[str, Any]]]: ...


class InboxRepository(Protocol):
    async def store(self, updates: Sequence[InboxUpdate]) -> set[int]: ...
    async def pending(self, *, channel: str, limit: int) -> list[InboxUpdate]: ...
    async def forget(self, update_id: int) -> None: ...
    async def failed(
        self, update_id: int, *, error: str, at: datetime, set_aside: bool
    ) -> None: ...
    async def set_aside(self, *, limit: int) -> list[InboxUpdate]: ...
    async def count_set_aside(self) -> int: ...
    async def retry(self, update_ids: Sequence[int]) -> int: ...
    async def drop(self, update_ids: Sequence[int]) -> int: ...
    async def prune_set_aside(self, *, before: datetime) -> int: ...


class OutboxRepository(Protocol):
    async def add(self, message: OutboxMessage) -> OutboxMessage | None: ...
    async def by_dedup_key(self, dedup_key: str) -> OutboxMessage | None: ...
    async def mark_answered(self, user_id: int, *, at: datetime, since: datetime) -> None: ...


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def by_external(self, *, channel: str, external_id: str) -> User | None:
        """The user, with their conversation loaded in the same query: the engine needs both
        for every update, and `SqlConversationRepository.get` then finds the conversation in
        the session without another round trip to the database."""
        found = await self.session.execute(
            _USER_AND_CONVERSATION, {"channel": channel, "external_id": external_id}
        )
        row = found.one_or_none()
        if row is None:
            return None
        if row[1] is not None:  # the identity map holds objects weakly: keep it for the session
            self.session.info.setdefault("preloaded", []).append(row[1])
        return row[0]

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user


class SqlConversationRepository:
    """The conversation state, read once and written once per event.

    The conversation is not kept in the session: flows change it all through an event, and
    the session would write each change at its next query (autoflush) and again at the end.
    The engine writes the columns that changed with `save`, in one UPDATE.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> Conversation | None:
        conversation = await self.session.get(Conversation, user_id)
        if conversation is not None:
            self.session.expunge(conversation)
        return conversation

    async def add(self, conversation: Conversation) -> Conversation:
        values = {c.key: getattr(conversation, c.key) for c in _CONVERSATIONS.columns}
        await self.session.execute(insert(_CONVERSATIONS).values(values))
        return conversation

    async def save(self, conversation: Conversation, columns: Collection[str]) -> None:
        """Writes the named columns of a conversation read with `get` or `add`."""
        values = {column: getattr(conversation, column) for column in columns}
        # The SET clause is the parameters' columns: one statement, compiled once per set.
        await self.session.execute(
            _SAVE_CONVERSATION, {"saved_user_id": conversation.user_id, **values}
        )


class SqlUpdateLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, update_id: int) -> bool:
        return await self.session.get(ProcessedUpdate, update_id) is not None

    async def record(self, update_id: int, *, at: datetime) -> None:
        self.session.add(ProcessedUpdate(update_id=update_id, processed_at=at))

    async def claim(self, update_id: int, *, at: datetime) -> bool:
        """Records an update unless it is recorded already; True when this call recorded it.

        INSERT ... ON CONFLICT DO NOTHING: when two workers race on one update, the second
        insert waits for the first transaction and then inserts nothing, so only one of them
        handles it (and if the first rolls back, the second gets it). Its row in the durable
        inbox goes in the same transaction: handled and no longer waiting are one fact.
        """
        values = {"update_id": update_id, "processed_at": at}
        if self.session.get_bind().dialect.name == "postgresql":
            # One round trip: the inbox row goes in a data-modifying CTE of the same statement.
            claimed = await self.session.execute(_CLAIM_FROM_INBOX_POSTGRESQL, values)
            return claimed.first() is not None
        # On SQLite a trigger on processed_updates deletes the inbox row (no data-modifying
        # CTE there). The claim counts the rows it inserted itself (0 on a conflict; the
        # trigger's are not counted) rather than fetching a RETURNING row: one thread hop less
        # for aiosqlite.
        claimed = await self.session.execute(_CLAIM_SQLITE, values)
        return bool(getattr(claimed, "rowcount", 0))

    async def keep_replies(self, update_id: int, replies: dict[str, Any]) -> None:
        """Keeps the replies of a claimed update until they are sent (`replies_sent`)."""
        await self.session.execute(
            _KEEP_REPLIES, {"kept_update_id": update_id, "replies": replies}
        )

    async def replies_sent(self, update_ids: Collection[int]) -> None:
        """Forgets the replies of these updates: the channel sent them (or gave up)."""
        if update_ids:
            await self.session.execute(
                update(_PROCESSED)
                .where(_PROCESSED.c.update_id.in_(list(update_ids)))
                .values(replies=null())  # SQL's NULL, not JSON's null: out of the index
            )

    async def replies_to_send(self) -> list[tuple[int, datetime, dict[str, Any]]]:
        """The updates whose replies were kept and not sent (a crash came between), oldest
        first: (update_id, processed_at, replies)."""
        p = _PROCESSED.c
        query = (
            select(p.update_id, p.processed_at, p.replies)
            .where(p.replies.is_not(None))
            .order_by(p.processed_at, p.update_id)
        )
        return [(u, at, replies) for u, at, replies in await self.session.execute(query)]


# The statements of every update, built once (on core tables: no ORM bookkeeping to do).
_USER_AND_CONVERSATION = (
    select(User, Conversation)
    .outerjoin(Conversation, Conversation.user_id == User.id)
    .where(User.channel == bindparam("channel"), User.external_id == bindparam("external_id"))
)
_INBOX: Any = InboxUpdate.__table__
_PROCESSED: Any = ProcessedUpdate.__table__
_CONVERSATIONS: Any = Conversation.__table__
_SAVE_CONVERSATION = update(_CONVERSATIONS).where(
    _CONVERSATIONS.c.user_id == bindparam("saved_user_id")
)
_KEEP_REPLIES = (
    update(_PROCESSED)
    .where(_PROCESSED.c.update_id == bindparam("kept_update_id"))
    .values(replies=bindparam("replies"))
)
_HANDLED_FROM_INBOX = delete(_INBOX).where(_INBOX.c.update_id == bindparam("update_id"))
#: INSERT ... ON CONFLICT DO NOTHING, on SQLite: `rowcount` says whether it inserted. The
#: trigger `processed_updates_leave_inbox` (storage/models/core.py) deletes the inbox row.
_CLAIM_SQLITE = (
    sqlite_insert(_PROCESSED)
    .values(update_id=bindparam("update_id"), processed_at=bindparam("processed_at"))
    .on_conflict_do_nothing(index_elements=["update_id"])
)
#: On PostgreSQL the inbox row's DELETE and the claim in one statement: WITH gone AS (DELETE
#: ...) INSERT ... ON CONFLICT DO NOTHING RETURNING. The DELETE runs even when the INSERT
#: inserts nothing; the caller then rolls back, as before.
_CLAIM_FROM_INBOX_POSTGRESQL = (
    postgresql_insert(_PROCESSED)
    .values(update_id=bindparam("update_id"), processed_at=bindparam("processed_at"))
    .on_conflict_do_nothing(index_elements=["update_id"])
    .returning(_PROCESSED.c.update_id)
    .add_cte(_HANDLED_FROM_INBOX.cte("handled_from_inbox"))
)


class SqlInboxRepository:
    """The durable inbox: updates as received, until the transaction that handles them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store(self, updates: Sequence[InboxUpdate]) -> set[int]:
        """Stores updates not stored or handled before; returns the ids that were new."""
        if not updates:
            return set()
        ids = [u.update_id for u in updates]
        handled = set(
            await self.session.scalars(
                select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id.in_(ids))
            )
        )
        rows = [
            {
                "update_id": u.update_id,
                "channel": u.channel,
                "payload": u.payload,
                "user_key": u.user_key,
                "received_at": u.received_at,
                "attempts": 0,
            }
            for u in updates
            if u.update_id not in handled
        ]
        if not rows:
            return set()
        if self.session.get_bind().dialect.name == "postgresql":
            statement: Any = postgresql_insert(InboxUpdate)
        else:
            statement = sqlite_insert(InboxUpdate)
        statement = statement.on_conflict_do_nothing(index_elements=["update_id"]).returning(
            InboxUpdate.update_id
        )
        stored = await self.session.execute(statement.values(rows))
        return {int(row[0]) for row in stored}

    async def pending(self, *, channel: str, limit: int) -> list[InboxUpdate]:
        """Stored updates not yet handled nor set aside, oldest first."""
        query = (
            select(InboxUpdate)
            .where(InboxUpdate.channel == channel, InboxUpdate.set_aside_at.is_(None))
            .order_by(InboxUpdate.update_id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def forget(self, update_id: int) -> None:
        """Removes an update that needed no handling (a group message, an unknown kind)."""
        await self.session.execute(delete(InboxUpdate).where(InboxUpdate.update_id == update_id))

    async def failed(self, update_id: int, *, error: str, at: datetime, set_aside: bool) -> None:
        """Counts a failed attempt; `set_aside` keeps the update for an operator."""
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == update_id)
            .values(
                attempts=InboxUpdate.attempts + 1,
                error=error[:80],
                set_aside_at=at if set_aside else None,
            )
        )

    async def set_aside(self, *, limit: int) -> list[InboxUpdate]:
        query = (
            select(InboxUpdate)
            .where(InboxUpdate.set_aside_at.is_not(None))
            .order_by(InboxUpdate.update_id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def count_set_aside(self) -> int:
        query = select(func.count()).where(InboxUpdate.set_aside_at.is_not(None))
        return int(await self.session.scalar(query) or 0)

    async def retry(self, update_ids: Sequence[int]) -> int:
        """Puts set-aside updates back in line (after a fix); returns how many."""
        result = await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id.in_(update_ids), InboxUpdate.set_aside_at.is_not(None))
            .values(set_aside_at=None, attempts=0)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def drop(self, update_ids: Sequence[int]) -> int:
        """Erases set-aside updates an operator looked at; returns how many."""
        result = await self.session.execute(
            delete(InboxUpdate).where(
                InboxUpdate.update_id.in_(update_ids), InboxUpdate.set_aside_at.is_not(None)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def prune_set_aside(self, *, before: datetime) -> int:
        """Erases updates set aside before `before`: they may quote a learner."""
        result = await self.session.execute(
            delete(InboxUpdate).where(InboxUpdate.set_aside_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SqlOutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: OutboxMessage) -> OutboxMessage | None:
        """Adds a message unless one with the same dedup key exists; returns it or None."""
        if await self.by_dedup_key(message.dedup_key) is not None:
            return None
        self.session.add(message)
        return message

    async def by_dedup_key(self, dedup_key: str) -> OutboxMessage | None:
        query = select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key)
        return (await self.session.scalars(query)).one_or_none()

    async def mark_answered(self, user_id: int, *, at: datetime, since: datetime) -> None:
        """Marks the user's nudges sent (or held back) since `since` as answered at `at`."""
        sent = and_(OutboxMessage.status == "sent", OutboxMessage.sent_at >= since)
        held = and_(OutboxMessage.status == "held", OutboxMessage.claimed_at >= since)
        await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.user_id == user_id,
                OutboxMessage.answered_at.is_(None),
                or_(sent, held),
            )
            .values(answered_at=at)
        )


def payload(
    message: str, /, *, buttons: list[list[str]] | None = None, **params: Any
) -> dict[str, Any]:
    """Builds an outbox payload: an English source string, its parameters and buttons."""
    return {"message": message, "params": params, "buttons": buttons or []}
