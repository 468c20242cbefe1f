"""Database models, one module per area."""

from memoryapp.models.conversation import Conversation, Message, SetupToken

__all__ = ["Conversation", "Message", "SetupToken"]
