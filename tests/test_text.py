"""The shared text helpers: one word tokenizer for memory and retrieval."""

from __future__ import annotations

from memoryapp.text import (
    content_words,
    count_tokens,
    normalised,
    sentences,
    stems,
    words,
)


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


def test_sentences_split_where_a_new_one_starts() -> None:
    assert sentences("I moved. It was in May! Was it 3.5 km? yes") == [
        "I moved.", "It was in May!", "Was it 3.5 km? yes",
    ]  # fmt: skip
