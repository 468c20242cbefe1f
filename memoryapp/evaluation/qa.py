"""Optional question answering from the packed context, scored with LoCoMo's token F1.

The prompt is deliberately short and lives here, not with the chat's prompts: it measures
whether the context holds the answer, not the chat's behaviour.

F1 follows LoCoMo's normalisation: lowercase, punctuation and the words a/an/the/and removed,
whitespace tokens. LoCoMo's script also stems words (Porter) and scores multi-hop answers per
comma-separated part; this one does neither, so its numbers run a little lower.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from memoryapp.evaluation.chat_retrieval import ContextUnitLike
from memoryapp.llm import LLM
from memoryapp.llm import Message as PromptMessage

ANSWER_MAX_TOKENS = 48
SYSTEM = (
    "You answer questions about a person's past conversations using only the numbered "
    "memories given. Reply with the answer alone, in as few words as possible."
)
_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def answer_prompt(
    units: Sequence[ContextUnitLike], question: str, asked_at: datetime
) -> list[PromptMessage]:
    """The messages asking the model to answer `question` from `units`."""
    memories = "\n".join(f"[{n}] {unit.text}" for n, unit in enumerate(units, start=1))
    user = (
        f"Memories:\n{memories or '(none)'}\n\n"
        f"Today is {asked_at:%d %B %Y}. Question: {question}\nAnswer:"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def answer(llm: LLM, units: Sequence[ContextUnitLike], question: str, asked_at: datetime) -> str:
    """The model's short answer (raises the adapter's `LLMError`s)."""
    reply = llm.complete(
        answer_prompt(units, question, asked_at), max_tokens=ANSWER_MAX_TOKENS, temperature=0.0
    )
    return reply.text.strip()


def normalise_answer(text: str) -> str:
    lowered = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", lowered).split())


def token_f1(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall after `normalise_answer`."""
    predicted, expected = normalise_answer(prediction).split(), normalise_answer(truth).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)
