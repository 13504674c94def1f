"""All tables. Importing this package registers every model on `Base.metadata`."""

from storage.models.base import Base, utcnow
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
from storage.models.scheduler import ProgrammeHoliday

__all__ = [
    "Base",
    "Conversation",
    "Feedback",
    "Group",
    "Membership",
    "OutboxMessage",
    "Preferences",
    "ProcessedUpdate",
    "ProgrammeHoliday",
    "Reflection",
    "Signal",
    "ThemeLevel",
    "Upload",
    "User",
    "utcnow",
]
