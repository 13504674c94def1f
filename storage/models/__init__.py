"""All tables. Importing this package registers every model on `Base.metadata`."""

from storage.models.base import Base, utcnow
from storage.models.core import Conversation, OutboxMessage, ProcessedUpdate, User
from storage.models.learning import Reflection, ThemeLevel
from storage.models.privacy import AccessLog, ErasedLearner
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
    "Conversation",
    "ErasedLearner",
    "Feedback",
    "Group",
    "Membership",
    "OutboxMessage",
    "Preferences",
    "ProcessedUpdate",
    "Reflection",
    "Signal",
    "ThemeLevel",
    "Upload",
    "User",
    "utcnow",
]
