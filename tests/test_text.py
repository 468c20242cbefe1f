"""The shared text helpers: one word tokenizer for memory and retrieval."""

from __future__ import annotations

import re

import pytest

from memoryapp.text import (
    content_words,
    count_tokens,
    head_within,
    normalised,
    sentences,
    stems,
    tail_within,
    words,
)
from tests.support.long_messages import CHINESE, RUN_OF_ONE_LETTER, utf8_bytes


def test_words_keep_inner_apostrophes_and_any_script() -> None:
    assert words("Don't forget Mia\u2019s 2nd party in Zürich, 東京") == [
        "Don't", "forget", "Mia\u2019s", "2nd", "party", "in", "Zürich", "東京",
    ]  # fmt: skip


def test_contractions_are_stopwords_and_content_words_need_a_letter() -> None:
    assert content_words("I don't think we'll go in 2024, but the rye-flour loaf is 4th") == [
        "rye", "flour", "loaf", "4th",
    ]  # fmt: skip


def test_stems_match_a_possessive_and_other_forms_of_a_word() -> None:
    assert stems("Mia's wedding?") == {"mia", "weddi"}
    assert stems("My sister Mia is getting married at her wedding") >= {"mia", "weddi"}
    assert stems("Mia\u2019s wedding") == stems("Mia's wedding")


def test_repeats_are_the_same_words_whatever_the_case_and_punctuation() -> None:
    assert normalised("Thanks, I LOVE it!") == normalised("thanks i love it")


def test_the_budget_counts_each_word_piece_and_punctuation_mark() -> None:
    assert count_tokens("Don't stop.") == 5  # Don ' t stop .


def test_prose_counts_one_token_per_word_and_mark_whatever_its_letters() -> None:
    prose = (
        "Hydrochlorofluorocarbons aside, my café in Zürich \u2014 \u201cthe best\u201d \u2014 "
        "opens at 9 a.m. \U0001f600 Привет!"
    )

    assert count_tokens(prose) == len(re.findall(r"\w+|[^\w\s]", prose))


@pytest.mark.parametrize("text", [RUN_OF_ONE_LETTER, CHINESE, "word " + "x" * 30, "東京は大きい"])
def test_a_run_without_spaces_counts_a_token_per_byte_as_a_tokenizer_may(text: str) -> None:
    assert count_tokens(text) >= utf8_bytes(text.removeprefix("word ")) > 1


def test_head_and_tail_within_are_the_longest_that_count_within_the_limit() -> None:
    assert head_within("记忆" * 10, 7, utf8_bytes) == "记忆"
    assert tail_within("ab" + "记忆" * 10, 7, utf8_bytes) == "记忆"
    assert head_within("short", 100, utf8_bytes) == "short"
    assert tail_within("short", 0, utf8_bytes) == ""
    assert head_within(RUN_OF_ONE_LETTER, 50) == "c" * 50


def test_sentences_split_where_a_new_one_starts() -> None:
    assert sentences("I moved. It was in May! Was it 3.5 km? yes") == [
        "I moved.", "It was in May!", "Was it 3.5 km? yes",
    ]  # fmt: skip
