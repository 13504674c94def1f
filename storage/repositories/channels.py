"""What channel adapters store beside the flows: numbered choices, the channel's message ids
of sent outbox rows and their delivery reports, and messages waiting for the recipient to
write (WhatsApp's 24-hour window). It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import NumberedChoices, OutboxMessage, User

#: An outbox row parked until its recipient writes again (outside WhatsApp's window).
WAITING = "waiting"


class ChannelRepository(Protocol):
    async def offer_numbered(
        self, user_id: int, choices: Sequence[tuple[str, str]], *, at: datetime
    ) -> None: ...
    async def numbered(self, user_id: int) -> list[tuple[str, str]]: ...
    async def sent_as(self, channel_message_id: str) -> OutboxMessage | None: ...
    async def release_waiting(self, *, now: datetime) -> int: ...


class SqlChannelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def offer_numbered(
        self, user_id: int, choices: Sequence[tuple[str, str]], *, at: datetime
    ) -> None:
        """Remembers the numbered choices just offered to a user (replacing older ones)."""
        row = await self.session.get(NumberedChoices, user_id)
        rows = [[label, data] for label, data in choices]
        if row is None:
            self.session.add(NumberedChoices(user_id=user_id, choices=rows, offered_at=at))
        else:
            row.choices, row.offered_at = rows, at

    async def numbered(self, user_id: int) -> list[tuple[str, str]]:
        """The numbered choices last offered to a user, in order; empty when none."""
        row = await self.session.get(NumberedChoices, user_id)
        return [(str(label), str(data)) for label, data in row.choices] if row else []

    async def sent_as(self, channel_message_id: str) -> OutboxMessage | None:
        """The outbox row that went out as this channel message."""
        query = select(OutboxMessage).where(OutboxMessage.channel_message_id == channel_message_id)
        return (await self.session.scalars(query.limit(1))).one_or_none()

    async def release_waiting(self, *, now: datetime) -> int:
        """Rows parked until their recipient wrote again go out now, if they did."""
        wrote = exists().where(
            User.id == OutboxMessage.user_id,
            User.last_seen_at.is_not(None),
            User.last_seen_at >= OutboxMessage.claimed_at,
        )
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == WAITING, wrote)
            .values(status="pending", due_at=now, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))
