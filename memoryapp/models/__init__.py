"""Database models, one module per area."""

from memoryapp.models.conversation import Conversation, Message, Passage, SetupToken
from memoryapp.models.memory import (
    Citation,
    Fact,
    FactSource,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Profile,
    Segment,
)

__all__ = [
    "Citation",
    "Conversation",
    "Fact",
    "FactSource",
    "JobStatus",
    "MemoryChangeset",
    "MemoryEvent",
    "Message",
    "Passage",
    "Profile",
    "Segment",
    "SetupToken",
]
