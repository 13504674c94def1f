"""All tables. Importing this package registers every model on `Base.metadata`."""

from storage.models.base import Base, utcnow
from storage.models.core import Conversation, OutboxMessage, ProcessedUpdate, User

__all__ = [
    "Base",
    "Conversation",
    "OutboxMessage",
    "ProcessedUpdate",
    "User",
    "utcnow",
]
