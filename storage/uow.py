"""The unit of work: one per update or scheduled job. Only it commits."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import (
    AccessLogRepository,
    CoachingRepository,
    CoachInviteRepository,
    ConversationRepository,
    FeedbackRepository,
    GroupRepository,
    MembershipRepository,
    OutboxRepository,
    PreferencesRepository,
    PromptRepository,
    ReflectionRepository,
    SessionRepository,
    SignalRepository,
    SqlAccessLogRepository,
    SqlCoachingRepository,
    SqlCoachInviteRepository,
    SqlConversationRepository,
    SqlFeedbackRepository,
    SqlGroupRepository,
    SqlMembershipRepository,
    SqlOutboxRepository,
    SqlPreferencesRepository,
    SqlPromptRepository,
    SqlReflectionRepository,
    SqlSessionRepository,
    SqlSignalRepository,
    SqlThemeLevelRepository,
    SqlUpdateLog,
    SqlUploadRepository,
    SqlUserRepository,
    ThemeLevelRepository,
    UpdateLog,
    UploadRepository,
    UserRepository,
)


class UnitOfWork(Protocol):
    """What flows see of storage: repositories, and commit."""

    users: UserRepository
    conversations: ConversationRepository
    updates: UpdateLog
    outbox: OutboxRepository
    groups: GroupRepository
    memberships: MembershipRepository
    preferences: PreferencesRepository
    uploads: UploadRepository
    signals: SignalRepository
    feedback: FeedbackRepository
    theme_levels: ThemeLevelRepository
    reflections: ReflectionRepository
    coach_invites: CoachInviteRepository
    access_log: AccessLogRepository
    sessions: SessionRepository
    prompts: PromptRepository
    coaching: CoachingRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class SqlUnitOfWork:
    """A unit of work on one SQLAlchemy session; rolls back unless committed."""

    session: AsyncSession
    users: UserRepository
    conversations: ConversationRepository
    updates: UpdateLog
    outbox: OutboxRepository
    groups: GroupRepository
    memberships: MembershipRepository
    preferences: PreferencesRepository
    uploads: UploadRepository
    signals: SignalRepository
    feedback: FeedbackRepository
    theme_levels: ThemeLevelRepository
    reflections: ReflectionRepository
    coach_invites: CoachInviteRepository
    access_log: AccessLogRepository
    sessions: SessionRepository
    prompts: PromptRepository
    coaching: CoachingRepository

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def __aenter__(self) -> Self:
        self.session = self._sessionmaker()
        self.users = SqlUserRepository(self.session)
        self.conversations = SqlConversationRepository(self.session)
        self.updates = SqlUpdateLog(self.session)
        self.outbox = SqlOutboxRepository(self.session)
        self.groups = SqlGroupRepository(self.session)
        self.memberships = SqlMembershipRepository(self.session)
        self.preferences = SqlPreferencesRepository(self.session)
        self.uploads = SqlUploadRepository(self.session)
        self.signals = SqlSignalRepository(self.session)
        self.feedback = SqlFeedbackRepository(self.session)
        self.theme_levels = SqlThemeLevelRepository(self.session)
        self.reflections = SqlReflectionRepository(self.session)
        self.coach_invites = SqlCoachInviteRepository(self.session)
        self.access_log = SqlAccessLogRepository(self.session)
        self.sessions = SqlSessionRepository(self.session)
        self.prompts = SqlPromptRepository(self.session)
        self.coaching = SqlCoachingRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
