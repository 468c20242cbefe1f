"""Pure text helpers shared by memory construction and retrieval: the one word tokenizer,
stopwords, sentence splitting, content words and crude stems, and the token count the memory
budget is measured in. No Django, no models: strings in, strings out."""

from __future__ import annotations

import re
from collections.abc import Callable

# A word: letters and digits (any script), with inner apostrophes, typed or typographic
# ("don't", "Mia's").
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")
# What the memory budget counts: a run of letters and digits, or one punctuation mark.
_TOKEN = re.compile(r"\w+|[^\w\s]")
# A longer run of letters and digits is no word of prose (English has few words over 20
# letters) but a URL's part, a hash, one key held down.
LONG_WORD_CHARS = 24
# A letter or digit of three or four bytes of UTF-8 (from U+0800): Chinese, Japanese, Korean,
# Thai, Indic scripts..., written without spaces, or cut by tokenizers into several tokens.
_WIDE_LETTER = re.compile(r"[^\W\x00-\u07ff]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")
# Words match on their first letters, a crude stemmer ("painting" finds "paints").
STEM_LETTERS = 5
# Shorter words carry too little to be a keyword or a summary's substance.
CONTENT_WORD_LETTERS = 3

_STOPWORDS_TEXT = (
    "a about above after again against all also am an and any are aren't as at be because been "
    "before being below between both but by can can't cannot could couldn't did didn't do does "
    "doesn't doing don't down during each few for from further get got had hadn't has hasn't "
    "have haven't having he he'd he'll he's her here here's hers herself him himself his how "
    "how's i i'd i'll i'm i've if in into is isn't it it's its itself just know let's like me "
    "more most much mustn't my myself no nor not now of off on once one only or other ought our "
    "ours ourselves out over own really same shan't she she'd she'll she's should shouldn't so "
    "some such than that that's the their theirs them themselves then there there's these they "
    "they'd they'll they're they've thing things think this those through to too under until up "
    "us very was wasn't we we'd we'll we're we've well were weren't what what's when when's "
    "where where's which while who who's whom why why's will with won't would wouldn't yeah yes "
    "you you'd you'll you're you've your yours yourself yourselves going want wanted lot lots "
    "maybe okay ok sure great good nice cool wow thanks thank hey hello oh haha lol also "
    "actually pretty still even ever way much many said say says tell told today yesterday "
    "tomorrow "
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def count_tokens(text: str) -> int:
    """Tokens as the memory budget counts them (model-free): one per word and punctuation mark,
    about what a model's tokenizer makes of prose. A run of letters and digits longer than
    LONG_WORD_CHARS, or with a character of three or four bytes of UTF-8, counts one per
    byte, the most a byte-level tokenizer makes of it: text without spaces never passes for
    one word."""
    tokens = _TOKEN.findall(text)
    longest = max(map(len, tokens), default=0)
    if longest <= LONG_WORD_CHARS and (text.isascii() or _WIDE_LETTER.search(text) is None):
        return len(tokens)  # prose, counted without a call per token
    return sum(map(_token_cost, tokens))


def _token_cost(token: str) -> int:
    if len(token) <= LONG_WORD_CHARS and _WIDE_LETTER.search(token) is None:
        return 1  # a word, a punctuation mark or a symbol
    return len(token.encode())


def head_within(text: str, limit: int, count: Callable[[str], int] = count_tokens) -> str:
    """The longest start of `text` of at most `limit` tokens by `count`, cut between
    characters (found by bisection: a longer text is taken to count no fewer tokens)."""
    return text[: _longest(len(text), lambda size: count(text[:size]) <= limit)]


def tail_within(text: str, limit: int, count: Callable[[str], int] = count_tokens) -> str:
    """The longest end of `text` of at most `limit` tokens by `count` (see `head_within`)."""
    size = _longest(len(text), lambda size: count(text[len(text) - size :]) <= limit)
    return text[len(text) - size :]


def _longest(size: int, fits: Callable[[int], bool]) -> int:
    """The largest length up to `size` that `fits`; 0 when none does."""
    low, high = 0, size
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def words(text: str) -> list[str]:
    """The text's words as written (see `_WORD`)."""
    return _WORD.findall(text)


def normalised(text: str) -> str:
    """The text's words, lower-cased and single-spaced: what makes two sentences repeats."""
    return " ".join(word.lower() for word in words(text))


def content_word(word: str) -> str:
    """The word lower-cased, or "" when it is a stopword, has no letter or is shorter than
    CONTENT_WORD_LETTERS."""
    lowered = word.lower().replace("\u2019", "'")
    if len(lowered) < CONTENT_WORD_LETTERS or lowered in STOPWORDS:
        return ""
    return lowered if any(c.isalpha() for c in lowered) else ""


def content_words(text: str) -> list[str]:
    return [word for word in map(content_word, words(text)) if word]


def stems(text: str) -> frozenset[str]:
    """The text's words other than stopwords, lower-cased, without a possessive "'s" and cut
    to STEM_LETTERS letters."""
    lowered = (word.lower().replace("\u2019", "'") for word in words(text))
    return frozenset(
        word.removesuffix("'s")[:STEM_LETTERS] for word in lowered if word not in STOPWORDS
    )


def sentences(text: str) -> list[str]:
    """The text split after ".", "!" or "?" where a new sentence starts."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]
