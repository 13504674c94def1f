"""All tables. Importing this package registers every model on `Base.metadata`."""

from storage.models.base import Base, utcnow
from storage.models.coach import (
    AccessLog,
    CoachInvite,
    CoachInviteFailure,
    GroupPrompt,
    GroupSession,
    PromptAnswer,
    RiskSnooze,
)
from storage.models.core import Conversation, OutboxMessage, ProcessedUpdate, User
from storage.models.learning import Reflection, ThemeLevel
from storage.models.programme import (
    Feedback,
    Group,
    Membership,
    Preferences,
    Signal,
    Upload,
)

__all__ = [
    "AccessLog",
    "Base",
    "CoachInvite",
    "CoachInviteFailure",
    "Conversation",
    "Feedback",
    "Group",
    "GroupPrompt",
    "GroupSession",
    "Membership",
    "OutboxMessage",
    "Preferences",
    "ProcessedUpdate",
    "PromptAnswer",
    "Reflection",
    "RiskSnooze",
    "Signal",
    "ThemeLevel",
    "Upload",
    "User",
    "utcnow",
]
