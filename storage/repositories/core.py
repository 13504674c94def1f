"""Repositories for users, conversations, processed updates and the outbox.

Repositories read and write through the session; they never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from storage.models import Conversation, OutboxMessage, ProcessedUpdate, User


class UserRepository(Protocol):
    async def get(self, user_id: int) -> User | None: ...
    async def by_external(self, *, channel: str, external_id: str) -> User | None: ...
    async def add(self, user: User) -> User: ...


class ConversationRepository(Protocol):
    async def get(self, user_id: int) -> Conversation | None: ...
    async def add(self, conversation: Conversation) -> Conversation: ...
    async def save(self, conversation: Conversation) -> None: ...


class UpdateLog(Protocol):
    async def seen(self, update_id: int) -> bool: ...
    async def record(self, update_id: int, *, at: datetime) -> None: ...
    async def claim(self, update_id: int, *, at: datetime) -> bool: ...


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
        query = (
            select(User, Conversation)
            .outerjoin(Conversation, Conversation.user_id == User.id)
            .where(User.channel == channel, User.external_id == external_id)
        )
        row = (await self.session.execute(query)).one_or_none()
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
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> Conversation | None:
        return await self.session.get(Conversation, user_id)

    async def add(self, conversation: Conversation) -> Conversation:
        self.session.add(conversation)
        return conversation

    async def save(self, conversation: Conversation) -> None:
        """Marks the JSON state as changed, which in-place edits do not do by themselves."""
        flag_modified(conversation, "data")
        flag_modified(conversation, "history")


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
        handles it (and if the first rolls back, the second gets it).
        """
        values = {"update_id": update_id, "processed_at": at}
        if self.session.get_bind().dialect.name == "postgresql":
            statement: Any = postgresql_insert(ProcessedUpdate).values(values)
        else:
            statement = sqlite_insert(ProcessedUpdate).values(values)
        statement = statement.on_conflict_do_nothing(index_elements=["update_id"]).returning(
            ProcessedUpdate.update_id
        )
        return (await self.session.execute(statement)).first() is not None


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
