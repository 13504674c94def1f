"""The unit of work: one per update or scheduled job. Only it commits."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import READ_ONLY
from storage.repositories import (
    AccessLogRepository,
    ChannelRepository,
    CoachingRepository,
    CoachInviteRepository,
    ConversationRepository,
    CvRepository,
    EvidenceRepository,
    FeedbackRepository,
    GoalRepository,
    GroupRepository,
    InboxRepository,
    MembershipRepository,
    OutboxRepository,
    PreferencesRepository,
    PrivacyRepository,
    PromptRepository,
    ReflectionRepository,
    ResponseRepository,
    SchedulerRepository,
    SessionRepository,
    SignalRepository,
    SqlAccessLogRepository,
    SqlChannelRepository,
    SqlCoachingRepository,
    SqlCoachInviteRepository,
    SqlConversationRepository,
    SqlCvRepository,
    SqlEvidenceRepository,
    SqlFeedbackRepository,
    SqlGoalRepository,
    SqlGroupRepository,
    SqlInboxRepository,
    SqlMembershipRepository,
    SqlOutboxRepository,
    SqlPreferencesRepository,
    SqlPrivacyRepository,
    SqlPromptRepository,
    SqlReflectionRepository,
    SqlResponseRepository,
    SqlSchedulerRepository,
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
    inbox: InboxRepository
    outbox: OutboxRepository
    groups: GroupRepository
    memberships: MembershipRepository
    preferences: PreferencesRepository
    uploads: UploadRepository
    signals: SignalRepository
    feedback: FeedbackRepository
    theme_levels: ThemeLevelRepository
    reflections: ReflectionRepository
    responses: ResponseRepository
    goals: GoalRepository
    evidence: EvidenceRepository
    cv: CvRepository
    access_log: AccessLogRepository
    privacy: PrivacyRepository
    scheduler: SchedulerRepository
    coach_invites: CoachInviteRepository
    sessions: SessionRepository
    prompts: PromptRepository
    coaching: CoachingRepository
    channels: ChannelRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    async def lock(self, key: str) -> None:
        """Serialises work on `key` (a user) until this unit of work ends."""
        ...


class SqlUnitOfWork:
    """A unit of work on one SQLAlchemy session; rolls back unless committed."""

    session: AsyncSession
    users: UserRepository
    conversations: ConversationRepository
    updates: UpdateLog
    inbox: InboxRepository
    outbox: OutboxRepository
    groups: GroupRepository
    memberships: MembershipRepository
    preferences: PreferencesRepository
    uploads: UploadRepository
    signals: SignalRepository
    feedback: FeedbackRepository
    theme_levels: ThemeLevelRepository
    reflections: ReflectionRepository
    responses: ResponseRepository
    goals: GoalRepository
    evidence: EvidenceRepository
    cv: CvRepository
    access_log: AccessLogRepository
    privacy: PrivacyRepository
    scheduler: SchedulerRepository
    coach_invites: CoachInviteRepository
    sessions: SessionRepository
    prompts: PromptRepository
    coaching: CoachingRepository
    channels: ChannelRepository

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, read_only: bool = False
    ) -> None:
        self._sessionmaker = sessionmaker
        #: Reads only: on SQLite a deferred transaction (no write lock, so it never keeps a
        #: learner's update waiting), on PostgreSQL a READ ONLY one; `commit` refuses.
        self.read_only = read_only

    async def __aenter__(self) -> Self:
        self.session = self._sessionmaker()
        if self.read_only:
            connection = await self.session.connection(execution_options={READ_ONLY: True})
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SET TRANSACTION READ ONLY"))
        self.users = SqlUserRepository(self.session)
        self.conversations = SqlConversationRepository(self.session)
        self.updates = SqlUpdateLog(self.session)
        self.inbox = SqlInboxRepository(self.session)
        self.outbox = SqlOutboxRepository(self.session)
        self.groups = SqlGroupRepository(self.session)
        self.memberships = SqlMembershipRepository(self.session)
        self.preferences = SqlPreferencesRepository(self.session)
        self.uploads = SqlUploadRepository(self.session)
        self.signals = SqlSignalRepository(self.session)
        self.feedback = SqlFeedbackRepository(self.session)
        self.theme_levels = SqlThemeLevelRepository(self.session)
        self.reflections = SqlReflectionRepository(self.session)
        self.responses = SqlResponseRepository(self.session)
        self.goals = SqlGoalRepository(self.session)
        self.evidence = SqlEvidenceRepository(self.session)
        self.cv = SqlCvRepository(self.session)
        self.access_log = SqlAccessLogRepository(self.session)
        self.privacy = SqlPrivacyRepository(self.session)
        self.scheduler = SqlSchedulerRepository(self.session)
        self.coach_invites = SqlCoachInviteRepository(self.session)
        self.sessions = SqlSessionRepository(self.session)
        self.prompts = SqlPromptRepository(self.session)
        self.coaching = SqlCoachingRepository(self.session)
        self.channels = SqlChannelRepository(self.session)
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
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def lock(self, key: str) -> None:
        """On PostgreSQL, takes a transaction-level advisory lock on `key`, so updates of one
        user are handled one after the other even by several workers. SQLite needs none: its
        write transactions (BEGIN IMMEDIATE) already run one at a time."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
            )
