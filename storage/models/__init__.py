"""All tables. Importing this package registers every model on `Base.metadata`."""

from storage.models.base import Base, utcnow
from storage.models.core import Conversation, OutboxMessage, ProcessedUpdate, User
from storage.models.evidence import CvEntry, Evidence
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
    "Base",
    "Conversation",
    "CvEntry",
    "Evidence",
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
