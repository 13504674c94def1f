"""All tables. Importing this package registers every model on `Base.metadata`."""

from storage.models.base import Base, utcnow
from storage.models.channels import NumberedChoices
from storage.models.coach import (
    CoachInvite,
    CoachInviteFailure,
    GroupPrompt,
    GroupSession,
    PromptAnswer,
    RiskSnooze,
    RiskSummary,
)
from storage.models.core import (
    Conversation,
    InboxUpdate,
    OutboxMessage,
    ProcessedUpdate,
    SendSchedule,
    User,
)
from storage.models.evidence import CvEntry, Evidence
from storage.models.goals import Goal
from storage.models.intake import QuestionnaireResponse
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
from storage.models.scheduler import PlanningRun, PlanningState, ProgrammeHoliday

__all__ = [
    "AccessLog",
    "Base",
    "CoachInvite",
    "CoachInviteFailure",
    "Conversation",
    "CvEntry",
    "ErasedLearner",
    "Evidence",
    "Feedback",
    "Goal",
    "Group",
    "GroupPrompt",
    "GroupSession",
    "InboxUpdate",
    "Membership",
    "NumberedChoices",
    "OutboxMessage",
    "PlanningRun",
    "PlanningState",
    "Preferences",
    "ProcessedUpdate",
    "ProgrammeHoliday",
    "PromptAnswer",
    "QuestionnaireResponse",
    "Reflection",
    "RiskSnooze",
    "RiskSummary",
    "SendSchedule",
    "Signal",
    "ThemeLevel",
    "Upload",
    "User",
    "utcnow",
]
