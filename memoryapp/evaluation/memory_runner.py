"""The run the LoCoMo and LongMemEval benchmarks share: import the histories (building memory
with the normal pipeline), retrieve for every question exactly as the chat does, score the
units against the evidence turns next to turn-level baselines, write the units, print tables.

Runs on whatever database Django uses; the benchmark modules make sure that is the scratch
database (`memoryapp.evaluation.scratch`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from django.contrib.auth.models import User

from memoryapp.embeddings import EMBEDDING_DIM, embed_texts
from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.chat_retrieval import Retrieved, Retriever, chat_retriever, retrieve
from memoryapp.evaluation.qa import answer, token_f1
from memoryapp.evaluation.recall_metrics import RankedUnit
from memoryapp.evaluation.recall_report import OVERALL, Scoreboard, recall_tables, table
from memoryapp.evaluation.turn_baselines import BM25, dense_rank, reciprocal_rank_fusion
from memoryapp.llm import LLMError, get_llm
from memoryapp.models import Message
from memoryapp.services.imports import ImportedHistory, history_import
from memoryapp.text import count_tokens

Write = Callable[[str], None]

MEMORYAPP = "memoryapp"
BM25_TURNS = "BM25 turns"
DENSE_TURNS = "dense turns"
RRF_TURNS = "RRF turns"
PROGRESS_EVERY = 25


@dataclass(frozen=True)
class EvalQuestion:
    """A question to score: whose memory to search, when it is asked, and its evidence."""

    record: dict[str, Any]  # the fields naming it in the JSONL output
    username: str
    text: str
    asked_at: datetime
    evidence: frozenset[str]
    group: str
    answer: str


@dataclass(frozen=True)
class RunPlan:
    out: Path
    out_budget: int  # --out holds the units of this budget's call, in prompt (packed) order
    id_field: str  # "dia_ids" | "turn_ids": how the JSONL names a unit's turns
    ks: tuple[int, ...]
    budgets: tuple[int, ...]
    answer_budget: int | None = None  # None: no question answering
    # Whose turns the baselines index: None, everyone's; ("user",), the user's alone.
    baseline_roles: tuple[str, ...] | None = None

    @property
    def retrieval_budget(self) -> int:
        return max(self.budgets)


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.monotonic() - started


@dataclass
class AnswerScores:
    f1: dict[str, list[float]] = field(default_factory=dict)
    failures: int = 0

    def add(self, group: str, score: float) -> None:
        for key in (OVERALL, group):
            self.f1.setdefault(key, []).append(score)


@dataclass(frozen=True)
class OwnerTurns:
    """One person's turns as baseline units, with their BM25 index and stored embeddings."""

    units: list[RankedUnit]
    bm25: BM25
    embeddings: npt.NDArray[np.float32]
    present: list[bool]


@dataclass
class Run:
    """The state of one evaluation run."""

    plan: RunPlan
    write: Write
    retriever: Retriever | None
    board: Scoreboard
    timings: Timings = field(default_factory=Timings)
    answers: AnswerScores = field(default_factory=AnswerScores)
    foreign_ids: int = 0


def evaluate(
    plan: RunPlan,
    histories: Iterable[ImportedHistory],
    questions: Sequence[EvalQuestion],
    write: Write,
) -> Scoreboard:
    """Import, score every question, write the units file and print the report."""
    run = Run(plan, write, chat_retriever(), Scoreboard(plan.ks, plan.budgets))
    with run.timings.measure("import"):
        import_histories(histories, write)
    if run.retriever is None:
        write(
            "memoryapp.retrieval.retrieve_units does not exist yet: baselines only, "
            f"nothing written to {plan.out}"
        )
    with _units_file(plan.out if run.retriever else None) as out:
        for username, owned in groupby(questions, key=lambda q: q.username):
            _score_owner(run, User.objects.get(username=username), list(owned), out)
    _report(run, len(questions))
    return run.board


def import_histories(histories: Iterable[ImportedHistory], write: Write) -> None:
    """Import each history (a user), printing one line per user and the totals."""
    users = conversations = messages = segments = facts = 0
    for history in histories:
        result = history_import(history=history)
        state = "imported" if result.created else "existed, memory build resumed"
        write(
            f"{history.username}: {state}; {result.conversations} conversations, "
            f"{result.messages} messages, {result.segments} segments, {result.facts} facts "
            f"({result.seconds:.1f} s)"
        )
        users += 1
        conversations += result.conversations
        messages += result.messages
        segments += result.segments
        facts += result.facts
    write(
        f"imported {users} users: {conversations} conversations, {messages} messages, "
        f"{segments} closed segments, {facts} active facts"
    )


@contextmanager
def _units_file(path: Path | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise EvaluationError(f"cannot write {path}: {exc}") from exc
    with handle:
        yield handle


def _score_owner(run: Run, owner: User, questions: list[EvalQuestion], out: IO[str] | None) -> None:
    with run.timings.measure("baselines"):
        turns = owner_turns(owner, roles=run.plan.baseline_roles)
    for question in questions:
        if run.retriever is not None:
            with run.timings.measure("memoryapp retrieval (a call per budget)"):
                by_budget = _retrieve_per_budget(run, run.retriever, owner, question)
            _score_units(run, question, by_budget, out)
        with run.timings.measure("baselines"):
            for method, ranked in baseline_units(turns, question.text).items():
                run.board.add(method, question.group, ranked, question.evidence)
        scored = run.board.recalls[(run.board.methods[0], OVERALL)].questions
        if scored % PROGRESS_EVERY == 0:
            run.write(f"scored {scored} questions")


def _retrieve_per_budget(
    run: Run, retriever: Retriever, owner: User, question: EvalQuestion
) -> dict[int, Retrieved]:
    """The chat's retrieval asked once per budget: its packer fits units to the budget (a
    unit shrinks to its messages closest to the question), so a small budget is not simply
    the first units of a large one."""
    budgets = sorted(
        {
            *run.plan.budgets,
            run.plan.answer_budget or run.plan.retrieval_budget,
            run.plan.out_budget,
        }
    )
    return {
        budget: retrieve(
            retriever, owner=owner, question=question.text, now=question.asked_at,
            token_budget=budget,
        )
        for budget in budgets
    }  # fmt: skip


def _score_units(
    run: Run, question: EvalQuestion, by_budget: dict[int, Retrieved], out: IO[str] | None
) -> None:
    largest = by_budget[run.plan.retrieval_budget]
    contexts = {budget: by_budget[budget].ranked() for budget in run.plan.budgets}
    run.board.add(MEMORYAPP, question.group, largest.ranked(), question.evidence, contexts)
    run.foreign_ids += sum(retrieved.foreign_ids for retrieved in by_budget.values())
    if out is not None:
        record = units_record(run.plan, question, by_budget[run.plan.out_budget])
        out.write(json.dumps(record) + "\n")
    if run.plan.answer_budget is not None:
        with run.timings.measure("answering"):
            _answer(run, question, by_budget[run.plan.answer_budget])


def units_record(plan: RunPlan, question: EvalQuestion, retrieved: Retrieved) -> dict[str, Any]:
    """The JSONL line of one question: its naming fields and the units one call packed, in
    packed order (the order the chat's prompt numbers and shows them)."""
    units = [
        {plan.id_field: ids, "tokens": unit.tokens}
        for unit, ids in zip(retrieved.units, retrieved.turn_ids, strict=True)
    ]
    return {**question.record, "units": units}


def _answer(run: Run, question: EvalQuestion, retrieved: Retrieved) -> None:
    try:
        reply = answer(get_llm(), retrieved.units, question.text, question.asked_at)
    except LLMError as exc:
        run.answers.failures += 1
        run.write(f"no answer to {question.record}: {exc}")
        reply = ""
    run.answers.add(question.group, token_f1(reply, question.answer))


def owner_turns(owner: User, roles: tuple[str, ...] | None = None) -> OwnerTurns:
    """The owner's turns in time order (only those of `roles`, when given), as
    "speaker: text" units (one query)."""
    rows = Message.objects.filter(owner=owner).order_by("created_at", "sequence", "pk")
    if roles is not None:
        rows = rows.filter(role__in=roles)
    units, texts, vectors, present = [], [], [], []
    for external_id, speaker, role, content, embedding in rows.values_list(
        "external_id", "speaker", "role", "content", "embedding"
    ):
        text = f"{speaker or role}: {content}"
        texts.append(text)
        units.append(RankedUnit(frozenset({external_id}), count_tokens(text)))
        present.append(embedding is not None)
        vectors.append(
            np.zeros(EMBEDDING_DIM, np.float32) if embedding is None else np.asarray(embedding)
        )
    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, EMBEDDING_DIM))
    return OwnerTurns(units, BM25(texts), matrix.astype(np.float32), present)


def baseline_units(turns: OwnerTurns, question: str) -> dict[str, list[RankedUnit]]:
    """The owner's turns ranked by BM25, by dense similarity and by their fusion."""
    vector = embed_texts([question])[0]
    lexical = turns.bm25.rank(question)
    dense = dense_rank(vector, turns.embeddings, turns.present)
    rankings = {
        BM25_TURNS: lexical,
        DENSE_TURNS: dense,
        RRF_TURNS: reciprocal_rank_fusion([lexical, dense]),
    }
    return {name: [turns.units[i] for i in ranking] for name, ranking in rankings.items()}


def _report(run: Run, questions: int) -> None:
    for line in recall_tables(run.board):
        run.write(line)
    run.write("")
    if run.foreign_ids:
        run.write(f"WARNING: units cited {run.foreign_ids} messages of other users")
    for phase, seconds in run.timings.seconds.items():
        per_question = 1000 * seconds / questions if questions and phase != "import" else 0.0
        detail = f" ({per_question:.0f} ms per question)" if per_question else ""
        run.write(f"{phase}: {seconds:.1f} s{detail}")
    if run.plan.answer_budget is not None and run.answers.f1:
        _report_answers(run)


def _report_answers(run: Run) -> None:
    rows = [
        [group, str(len(scores)), f"{sum(scores) / len(scores):.3f}"]
        for group, scores in sorted(
            run.answers.f1.items(), key=lambda item: (item[0] != OVERALL, item[0])
        )
    ]
    run.write("")
    run.write(
        f"answers from the memoryapp context packed into {run.plan.answer_budget} tokens "
        f"({run.answers.failures} failed), token F1:"
    )
    for line in table(["group", "n", "F1"], rows, left=1):
        run.write(line)
