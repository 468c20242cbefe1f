"""`manage.py memory_eval locomo --data FILE --out RUN.jsonl`: evidence recall on LoCoMo.

Each conversation (sample) is imported as one user (`locomo_data`), its memory built by the
pipeline, and each question asked of the chat's retrieval at the time the conversation ended,
with a budget of 2048 tokens. Category 5 (adversarial: no answer in the conversation) is
skipped, and so are questions without evidence. Malformed evidence ids are normalised
(`normalise_evidence`); ids that name no turn of the conversation are dropped. Both are
counted in the output. Groups are the categories: 1 multi-hop, 2 temporal, 3 open-domain,
4 single-hop.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memoryapp.evaluation import memory_benchmark
from memoryapp.evaluation.locomo_data import (
    CATEGORIES,
    LocomoSample,
    locomo_history,
    normalise_evidence,
    read_locomo,
)
from memoryapp.evaluation.memory_runner import EvalQuestion, RunPlan, evaluate
from memoryapp.evaluation.recall_report import Scoreboard

HELP = "evidence recall of the chat's retrieval on a LoCoMo file, next to turn baselines"
KS = (1, 3, 5, 10, 20)
BUDGETS = (256, 512, 1024, 2048)
ADVERSARIAL = 5
SHOWN_CHANGES = 20


def add_arguments(parser: ArgumentParser) -> None:
    memory_benchmark.add_arguments(
        parser,
        data_help="a LoCoMo file (the format of locomo10.json)",
        limit_help="only the first N conversations",
    )


def run(options: Mapping[str, Any], write: Callable[[str], None]) -> None:
    memory_benchmark.run_on_scratch("locomo", options, write, evaluate_locomo)


def evaluate_locomo(options: Mapping[str, Any], write: Callable[[str], None]) -> Scoreboard:
    """Read, select the questions, then import, retrieve and score (on this database)."""
    path: Path = options["data"]
    samples = read_locomo(path)[: options.get("limit") or None]
    selection = select_questions(samples)
    write(describe(path, samples, selection))
    for line in selection.changes[:SHOWN_CHANGES]:
        write(f"  {line}")
    plan = RunPlan(
        out=options["out"],
        out_budget=memory_benchmark.out_budget(options),
        id_field="dia_ids",
        ks=KS,
        budgets=BUDGETS,
        answer_budget=memory_benchmark.answer_budget(options),
    )
    return evaluate(plan, map(locomo_history, samples), selection.questions, write)


@dataclass
class Selection:
    """The questions to score, and what was skipped or normalised on the way."""

    questions: list[EvalQuestion] = field(default_factory=list)
    total: int = 0
    adversarial: int = 0
    no_evidence: int = 0
    normalised: int = 0
    unknown_ids: int = 0
    changes: list[str] = field(default_factory=list)


def select_questions(samples: Sequence[LocomoSample]) -> Selection:
    selection = Selection()
    for sample in samples:
        known = sample.dia_ids()
        for qa in sample.questions:
            selection.total += 1
            if qa.category == ADVERSARIAL:
                selection.adversarial += 1
                continue
            evidence = normalise_evidence(qa.evidence)
            if evidence != list(qa.evidence):
                selection.normalised += 1
                selection.changes.append(
                    f"{sample.sample_id} #{qa.index}: {list(qa.evidence)} -> {evidence}"
                )
            unknown = [e for e in evidence if e not in known]
            if unknown:
                selection.unknown_ids += len(unknown)
                selection.changes.append(f"{sample.sample_id} #{qa.index}: no turn {unknown}")
            evidence = [e for e in evidence if e in known]
            if not evidence:
                selection.no_evidence += 1
                continue
            selection.questions.append(
                EvalQuestion(
                    record={"sample_id": sample.sample_id, "qa_index": qa.index},
                    username=sample.username,
                    text=qa.question,
                    asked_at=sample.ended_at,
                    evidence=frozenset(evidence),
                    group=f"{qa.category} {CATEGORIES.get(qa.category, 'other')}",
                    answer=qa.answer,
                )
            )
    return selection


def describe(path: Path, samples: Sequence[LocomoSample], selection: Selection) -> str:
    sessions = sum(len(s.sessions) for s in samples)
    turns = sum(len(session.turns) for s in samples for session in s.sessions)
    return (
        f"{path.name}: {len(samples)} conversations, {sessions} sessions, {turns} turns; "
        f"{selection.total} questions: {selection.adversarial} of category 5 skipped, "
        f"{selection.no_evidence} without evidence skipped, {selection.normalised} with "
        f"evidence ids normalised, {selection.unknown_ids} unknown evidence ids dropped; "
        f"{len(selection.questions)} scored"
    )
