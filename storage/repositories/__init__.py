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

__all__ = [
    "ConversationRepository",
    "OutboxRepository",
    "SqlConversationRepository",
    "SqlOutboxRepository",
    "SqlUpdateLog",
    "SqlUserRepository",
    "UpdateLog",
    "UserRepository",
    "payload",
]
