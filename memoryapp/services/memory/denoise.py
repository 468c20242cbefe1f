"""Deterministic memory-unit text: the denoised retrieval key, an extractive summary, keywords
and a title. Used whatever the model, and as the fallback when the model's output fails.

SeCom's finding is that retrieval works better on a segment's content with the noise removed
(greetings, filler, back-channels, repetition) than on the raw turns or on a summary alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from memoryapp.text import (
    CONTENT_WORD_LETTERS,
    LONG_WORD_CHARS,
    content_word,
    content_words,
    normalised,
    sentences,
    words,
)

# Whole turns that carry no content ("ok", "thanks!", "haha yes").
_BACKCHANNEL = re.compile(
    r"^(?:(?:ok(?:ay)?|k|sure|yes|yeah|yep|yup|no|nope|right|alright|cool|great|nice|wow|"
    r"awesome|perfect|fine|good|lol|haha+|hah|hmm+|uh+|um+|oh|ah|i see|got it|sounds good|"
    r"thanks?(?: you)?(?: so much| a lot)?|thx|ty|you'?re welcome|no problem|np|bye|goodbye|"
    r"see you|good ?night|hi|hello|hey|hiya|good (?:morning|afternoon|evening)|"
    r"me too|same|indeed|exactly|true|agreed|of course|definitely|absolutely)[\s!.,?:;)(-]*)+$",
    re.IGNORECASE,
)
# Openers and fillers removed from the start of a sentence, when punctuation ends them
# ("Oh, ...", "Hey Mel! ...", "Thanks Sam, ..."): without it the next word is content
# ("So Caroline adopted a dog", "Great Britain voted").
_OPENER = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|oh|ah|well|so|um+|uh+|hmm+|okay|ok|yeah|yes|wow|haha+|lol|"
    r"thanks?(?: you)?(?: so much)?|great|nice|cool|sure|right|good (?:morning|afternoon|evening)"
    r")(?:\s+\w+)?\s*[!,.:;-]+\s*)+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Utterance:
    """A person's turn; `context` is the assistant's line it responds to ("speaker: text"),
    shown before it in the retrieval key and never used for titles, keywords or summaries."""

    speaker: str
    text: str
    context: str = ""


# A person's reply of at most this many words needs what it responds to in order to mean
# anything ("Yes", "Lisbon, since May"); a longer one stands on its own.
CONTEXT_REPLY_WORDS = 12
# A reply that takes up a suggestion ("Sure, let's do that", "Good idea").
_ACCEPTS = re.compile(
    r"^(?:yes|yeah|yep|sure|ok(?:ay)?|great|good|perfect|sounds good|good idea|great idea|"
    r"let'?s|i'?ll (?:do|try|take|go with|book)|that works|deal|definitely|absolutely|"
    r"please)\b",
    re.IGNORECASE,
)


def responded_to(earlier: str, reply: str) -> str:
    """What of the assistant's `earlier` turn a person's short `reply` responds to: its last
    question (the question the person answered), or, when the reply takes up a suggestion,
    its last sentence; "" when the reply is long enough to stand alone or responds to
    nothing said."""
    if len(reply.split()) > CONTEXT_REPLY_WORDS:
        return ""
    said = sentences(earlier)
    questions = [sentence for sentence in said if sentence.endswith("?")]
    if questions:
        return questions[-1]
    if said and _ACCEPTS.match(reply.strip()):
        return said[-1]
    return ""


def _clean_sentence(sentence: str) -> str:
    return _OPENER.sub("", sentence).strip()


def _content_sentences(text: str, seen: set[str]) -> list[str]:
    """The text's sentences without openers, filler, back-channels and sentences already in
    `seen` (which is updated), each starting with a capital."""
    kept = []
    for sentence in sentences(text):
        cleaned = _clean_sentence(sentence)
        key = normalised(cleaned)
        if not key or _BACKCHANNEL.match(cleaned) or key in seen:
            continue
        seen.add(key)
        kept.append(cleaned[:1].upper() + cleaned[1:])
    return kept


def retrieval_key(utterances: Sequence[Utterance], *, max_chars: int = 4000) -> str:
    """The segment's content as "speaker: text" lines, without greetings, filler,
    back-channel turns and repeated sentences; never empty when the segment has content.
    A reply with context keeps its context line before it, and itself even when it is a
    back-channel ("Yes." to a question)."""
    seen: set[str] = set()
    lines = []
    for utterance in utterances:
        if _BACKCHANNEL.match(utterance.text.strip()) and not utterance.context:
            continue
        kept = _content_sentences(utterance.text, seen)
        if utterance.context:
            lines.append(utterance.context)
            kept = kept or [utterance.text.strip()]
        if kept:
            lines.append(f"{utterance.speaker}: {' '.join(kept)}")
    key_text = "\n".join(lines) or "\n".join(f"{u.speaker}: {u.text}" for u in utterances)
    return key_text[:max_chars]


# A question this short is conversational ("What about you?", "How was it?"), not content.
SHORT_QUESTION_WORDS = 10


def compact_turn(text: str) -> str:
    """One turn as the context shows it: the retrieval key's cleaning (openers, filler,
    back-channels and repeated sentences removed) plus short questions dropped when the turn
    says something else; the original text when nothing would be left."""
    kept = _content_sentences(text, set())
    statements = [s for s in kept if not _is_short_question(s)]
    return " ".join(statements or kept) or text.strip()


def _is_short_question(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") and len(sentence.split()) <= SHORT_QUESTION_WORDS


def extractive_summary(candidates: Sequence[str], *, max_sentences: int = 3) -> str:
    """The `max_sentences` most central sentences, in their original order.

    Centrality as in LexRank's degree form: a sentence's summed TF-IDF cosine similarity to
    the others. Lexical vectors cost nothing to compute, where embedding every sentence of a
    long segment would cost more than embedding its turns.
    """
    if len(candidates) <= max_sentences:
        return " ".join(candidates)
    vectors = _tfidf_vectors(candidates)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0.0)
    centrality = similarity.sum(axis=1)
    chosen = sorted(np.argsort(-centrality, kind="stable")[:max_sentences].tolist())
    return " ".join(candidates[i] for i in chosen)


def _tfidf_vectors(texts: Sequence[str]) -> NDArray[np.float64]:
    """Unit-length TF-IDF vectors of the texts' content words (zero rows for no words)."""
    bags = [Counter(content_words(text)) for text in texts]
    vocabulary = {word: i for i, word in enumerate(sorted(set().union(*bags)))}
    counts = np.zeros((len(texts), len(vocabulary)))
    for row, bag in enumerate(bags):
        for word, count in bag.items():
            counts[row, vocabulary[word]] = count
    document_frequency = (counts > 0).sum(axis=0)
    weighted = counts * np.log((1 + len(texts)) / (1 + document_frequency))
    norms = np.linalg.norm(weighted, axis=1, keepdims=True)
    unit: NDArray[np.float64] = np.divide(
        weighted, norms, out=np.zeros_like(weighted), where=norms > 0
    )
    return unit


# A long segment is represented by at most this many sentences, spread evenly over it.
MAX_SUMMARY_CANDIDATES = 200
# A sentence with fewer words of CONTENT_WORD_LETTERS or more says too little to summarise.
SUMMARY_MIN_WORDS = 4


def _long_words(text: str) -> int:
    return sum(len(word) >= CONTENT_WORD_LETTERS for word in words(text))


def summary_candidates(
    utterances: Sequence[Utterance], *, limit: int = MAX_SUMMARY_CANDIDATES
) -> list[str]:
    """Content sentences worth summarising (long enough, not filler), speaker-attributed;
    at most `limit`, evenly spaced over the segment."""
    found = []
    for utterance in utterances:
        for sentence in sentences(utterance.text):
            cleaned = _clean_sentence(sentence)
            if _long_words(cleaned) >= SUMMARY_MIN_WORDS and not _BACKCHANNEL.match(cleaned):
                found.append(f"{utterance.speaker}: {cleaned}")
    if len(found) <= limit:
        return found
    return [found[i] for i in np.linspace(0, len(found) - 1, limit).round().astype(int)]


def keywords(texts: Sequence[str], *, limit: int = 8) -> list[str]:
    """The most frequent content words (proper-looking names first among equals)."""
    counts: Counter[str] = Counter()
    capitalised: set[str] = set()
    for text in texts:
        for word in words(text):
            lowered = content_word(word)
            if not lowered or len(lowered) > LONG_WORD_CHARS:  # a run without spaces, a URL
                continue
            counts[lowered] += 1
            if word[0].isupper():
                capitalised.add(lowered)
    ranked = sorted(counts, key=lambda w: (-counts[w], w not in capitalised, w))
    return ranked[:limit]


def title_from(keywords_found: Sequence[str], utterances: Sequence[Utterance]) -> str:
    """A short title: the top keywords, else the first words of the first utterance."""
    if keywords_found:
        return ", ".join(word.capitalize() for word in keywords_found[:3])
    first = utterances[0].text if utterances else ""
    return " ".join(first.split()[:6])[:80]
