"""Database models, one module per area."""

from memoryapp.models.conversation import Conversation, Message, SetupToken
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
    "Profile",
    "Segment",
    "SetupToken",
]
