"""Evidence recall at k and under token budgets, on hand-computed cases."""

from __future__ import annotations

from memoryapp.evaluation.recall_metrics import RankedUnit, Recall, hit, packed
from memoryapp.text import count_tokens


def unit(*ids: str, tokens: int = 10) -> RankedUnit:
    return RankedUnit(frozenset(ids), tokens)


RANKED = [unit("a", tokens=100), unit("b", "c", tokens=300), unit("d", tokens=50)]


def test_tokens_are_words_and_punctuation_marks() -> None:
    assert count_tokens("Caroline: I moved to Lisbon, didn't I?") == 12


def test_any_needs_one_evidence_turn_and_all_needs_every_one() -> None:
    assert hit(RANKED[:1], frozenset({"a", "c"})) == hit([unit("a")], frozenset({"a", "c"}))
    assert hit(RANKED[:1], frozenset({"a", "c"})).any
    assert not hit(RANKED[:1], frozenset({"a", "c"})).all
    assert hit(RANKED[:2], frozenset({"a", "c"})).all
    assert not hit([], frozenset({"a"})).any


def test_packing_skips_a_unit_that_does_not_fit_and_goes_on() -> None:
    assert packed(RANKED, 160) == [RANKED[0], RANKED[2]]
    assert packed(RANKED, 450) == RANKED
    assert packed(RANKED, 10) == []


def test_recall_averages_over_questions_at_k_and_per_budget() -> None:
    recall = Recall(ks=(1, 2), budgets=(160, 450))

    recall.add(RANKED, frozenset({"c"}))  # second unit
    recall.add(RANKED, frozenset({"a", "d"}))  # first and third

    assert recall.questions == 2
    assert recall.rate(recall.any_at_k, 1) == 0.5
    assert recall.rate(recall.any_at_k, 2) == 1.0
    assert recall.rate(recall.all_at_k, 2) == 0.5
    # 160 tokens take units 1 and 3 (the 300-token unit does not fit).
    assert recall.rate(recall.any_in_budget, 160) == 0.5
    assert recall.rate(recall.all_in_budget, 160) == 0.5
    assert recall.rate(recall.all_in_budget, 450) == 1.0
    assert recall.mean_tokens(160) == 150
    assert recall.mean_tokens(450) == 450


def test_an_empty_recall_rates_zero() -> None:
    recall = Recall(ks=(1,), budgets=(256,))

    assert recall.rate(recall.any_at_k, 1) == 0.0
    assert recall.mean_tokens(256) == 0.0
