"""Database models, one module per area."""

from memoryapp.models.accounts import AdminAccess, MemberSettings
from memoryapp.models.conversation import Conversation, Message, Passage, SetupToken
from memoryapp.models.memory import (
    Citation,
    Fact,
    FactProposal,
    FactSource,
    ImportJob,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Profile,
    Segment,
)
from memoryapp.models.model_manager import LocalModel, ModelDownload

__all__ = [
    "AdminAccess",
    "Citation",
    "Conversation",
    "Fact",
    "FactProposal",
    "FactSource",
    "ImportJob",
    "JobStatus",
    "LocalModel",
    "MemberSettings",
    "MemoryChangeset",
    "MemoryEvent",
    "Message",
    "ModelDownload",
    "Passage",
    "Profile",
    "Segment",
    "SetupToken",
]
