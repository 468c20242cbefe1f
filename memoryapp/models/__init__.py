"""Database models, one module per area."""

from memoryapp.models.conversation import Conversation, Message, SetupToken
from memoryapp.models.memory import (
    Fact,
    FactSource,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Profile,
    Segment,
)

__all__ = [
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
