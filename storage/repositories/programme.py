"""Repositories for groups, memberships, preferences, uploads, signals and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Feedback, Group, Membership, Preferences, Signal, Upload
from storage.risk_summary import summarise


class GroupRepository(Protocol):
    async def add(self, group: Group) -> Group: ...
    async def get(self, group_id: int) -> Group | None: ...
    async def by_join_code(self, join_code: str) -> Group | None: ...
    async def of_coach(self, coach_id: int) -> list[Group]: ...


class MembershipRepository(Protocol):
    async def add(self, membership: Membership) -> Membership: ...
    async def active_for(self, learner_id: int) -> Membership | None: ...
    async def active_in(self, group_id: int) -> list[Membership]: ...
    async def coach_id_for(self, learner_id: int) -> int | None: ...


class PreferencesRepository(Protocol):
    async def get(self, user_id: int) -> Preferences | None: ...
    async def add(self, preferences: Preferences) -> Preferences: ...


class UploadRepository(Protocol):
    async def add(self, upload: Upload) -> Upload: ...
    async def get(self, upload_id: int) -> Upload | None: ...
    async def by_hash(self, *, owner_id: int, sha256: str) -> Upload | None: ...
    async def of_owner(self, owner_id: int) -> list[Upload]: ...


class SignalRepository(Protocol):
    async def add(self, signal: Signal) -> Signal: ...
    async def of_user(self, user_id: int, *, since: datetime | None = None) -> list[Signal]: ...


class FeedbackRepository(Protocol):
    async def add(self, feedback: Feedback) -> Feedback: ...
    async def for_item(self, *, item_type: str, item_id: int) -> list[Feedback]: ...
    async def unseen_for(self, learner_id: int) -> list[Feedback]: ...


class _SqlRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class SqlGroupRepository(_SqlRepository):
    async def add(self, group: Group) -> Group:
        self.session.add(group)
        await self.session.flush()
        return group

    async def get(self, group_id: int) -> Group | None:
        return await self.session.get(Group, group_id)

    async def by_join_code(self, join_code: str) -> Group | None:
        query = select(Group).where(Group.join_code == join_code)
        return (await self.session.scalars(query)).one_or_none()

    async def of_coach(self, coach_id: int) -> list[Group]:
        query = select(Group).where(Group.coach_id == coach_id).order_by(Group.id)
        return list(await self.session.scalars(query))


class SqlMembershipRepository(_SqlRepository):
    async def add(self, membership: Membership) -> Membership:
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def active_for(self, learner_id: int) -> Membership | None:
        query = select(Membership).where(
            Membership.learner_id == learner_id, Membership.left_at.is_(None)
        )
        return (await self.session.scalars(query)).first()

    async def active_in(self, group_id: int) -> list[Membership]:
        query = (
            select(Membership)
            .where(Membership.group_id == group_id, Membership.left_at.is_(None))
            .order_by(Membership.id)
        )
        return list(await self.session.scalars(query))

    async def coach_id_for(self, learner_id: int) -> int | None:
        query = (
            select(Group.coach_id)
            .join(Membership, Membership.group_id == Group.id)
            .where(Membership.learner_id == learner_id, Membership.left_at.is_(None))
        )
        return (await self.session.scalars(query)).first()


class SqlPreferencesRepository(_SqlRepository):
    async def get(self, user_id: int) -> Preferences | None:
        return await self.session.get(Preferences, user_id)

    async def add(self, preferences: Preferences) -> Preferences:
        self.session.add(preferences)
        return preferences


class SqlUploadRepository(_SqlRepository):
    async def add(self, upload: Upload) -> Upload:
        self.session.add(upload)
        await self.session.flush()
        return upload

    async def get(self, upload_id: int) -> Upload | None:
        return await self.session.get(Upload, upload_id)

    async def by_hash(self, *, owner_id: int, sha256: str) -> Upload | None:
        query = select(Upload).where(Upload.owner_id == owner_id, Upload.sha256 == sha256)
        return (await self.session.scalars(query)).first()

    async def of_owner(self, owner_id: int) -> list[Upload]:
        query = select(Upload).where(Upload.owner_id == owner_id).order_by(Upload.id)
        return list(await self.session.scalars(query))


class SqlSignalRepository(_SqlRepository):
    async def add(self, signal: Signal) -> Signal:
        self.session.add(signal)
        await summarise(self.session, [(signal.user_id, signal.kind, signal.at, signal.details)])
        return signal

    async def of_user(self, user_id: int, *, since: datetime | None = None) -> list[Signal]:
        query = select(Signal).where(Signal.user_id == user_id)
        if since is not None:
            query = query.where(Signal.at >= since)
        return list(await self.session.scalars(query.order_by(Signal.at, Signal.id)))


class SqlFeedbackRepository(_SqlRepository):
    async def add(self, feedback: Feedback) -> Feedback:
        self.session.add(feedback)
        await self.session.flush()
        return feedback

    async def for_item(self, *, item_type: str, item_id: int) -> list[Feedback]:
        query = (
            select(Feedback)
            .where(Feedback.item_type == item_type, Feedback.item_id == item_id)
            .order_by(Feedback.created_at, Feedback.id)
        )
        return list(await self.session.scalars(query))

    async def unseen_for(self, learner_id: int) -> list[Feedback]:
        query = (
            select(Feedback)
            .where(Feedback.learner_id == learner_id, Feedback.seen_at.is_(None))
            .order_by(Feedback.created_at, Feedback.id)
        )
        return list(await self.session.scalars(query))
