"""Repositories: read and write, never commit."""

from storage.repositories.core import (
    ConversationRepository,
    OutboxRepository,
    SqlConversationRepository,
    SqlOutboxRepository,
    SqlUpdateLog,
    SqlUserRepository,
    UpdateLog,
    UserRepository,
    payload,
)
from storage.repositories.evidence import (
    CvRepository,
    EvidenceRepository,
    SqlCvRepository,
    SqlEvidenceRepository,
)
from storage.repositories.goals import GoalRepository, SqlGoalRepository
from storage.repositories.intake import ResponseRepository, SqlResponseRepository
from storage.repositories.learning import (
    ReflectionRepository,
    SqlReflectionRepository,
    SqlThemeLevelRepository,
    ThemeLevelRepository,
)
from storage.repositories.programme import (
    FeedbackRepository,
    GroupRepository,
    MembershipRepository,
    PreferencesRepository,
    SignalRepository,
    SqlFeedbackRepository,
    SqlGroupRepository,
    SqlMembershipRepository,
    SqlPreferencesRepository,
    SqlSignalRepository,
    SqlUploadRepository,
    UploadRepository,
)

__all__ = [
    "ConversationRepository",
    "CvRepository",
    "EvidenceRepository",
    "FeedbackRepository",
    "GoalRepository",
    "GroupRepository",
    "MembershipRepository",
    "OutboxRepository",
    "PreferencesRepository",
    "ReflectionRepository",
    "ResponseRepository",
    "SignalRepository",
    "SqlConversationRepository",
    "SqlCvRepository",
    "SqlEvidenceRepository",
    "SqlFeedbackRepository",
    "SqlGoalRepository",
    "SqlGroupRepository",
    "SqlMembershipRepository",
    "SqlOutboxRepository",
    "SqlPreferencesRepository",
    "SqlReflectionRepository",
    "SqlResponseRepository",
    "SqlSignalRepository",
    "SqlThemeLevelRepository",
    "SqlUpdateLog",
    "SqlUploadRepository",
    "SqlUserRepository",
    "ThemeLevelRepository",
    "UpdateLog",
    "UploadRepository",
    "UserRepository",
    "payload",
]
