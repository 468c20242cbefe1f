"""Messages under the length limit that no word-based budget can cut: text without spaces.

Each is at most 8,000 characters (`CHAT_MESSAGE_MAX_CHARS`); the demo model's tokenizer makes
4,000 tokens of the run of one letter, 9,000 of the Chinese text and about 3,000 of the URL.
"""

from __future__ import annotations

from memoryapp.llm.scripted import ScriptedBackend

RUN_OF_ONE_LETTER = "c" * 8000
# 4,500 Chinese characters ("memory"), 13,500 bytes of UTF-8.
CHINESE = "记忆" * 2250
LONG_URL = (
    "https://shop.example.com/catalogue/"
    + "/".join(f"section{n}" for n in range(400))
    + "?"
    + "&".join(f"filter{n}=value{n}" for n in range(400))
)[:7900]

LONG_MESSAGES = {"run of one letter": RUN_OF_ONE_LETTER, "chinese": CHINESE, "url": LONG_URL}


def utf8_bytes(text: str) -> int:
    """The most tokens a byte-level tokenizer makes of `text`: one per UTF-8 byte."""
    return len(text.encode())


class ByteTokenizer(ScriptedBackend):
    """A scripted model whose tokenizer makes a token of every UTF-8 byte (the most a
    byte-level tokenizer makes): the adapter refuses what would not fit a real one."""

    def count_tokens(self, text: str) -> int:
        return utf8_bytes(text)
