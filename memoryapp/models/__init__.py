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

__all__ = [
    "AdminAccess",
    "Citation",
    "Conversation",
    "Fact",
    "FactProposal",
    "FactSource",
    "ImportJob",
    "JobStatus",
    "MemberSettings",
    "MemoryChangeset",
    "MemoryEvent",
    "Message",
    "Passage",
    "Profile",
    "Segment",
    "SetupToken",
]
