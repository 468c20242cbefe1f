"""`manage.py memory_eval longmemeval --data FILE --out RUN.jsonl`: evidence recall on
LongMemEval (S, M or oracle file, .json or .json.gz).

Each scored question's haystack is imported as one user (`longmemeval_data`), its memory built
by the pipeline, and the question asked of the chat's retrieval at its `question_date`, with
a budget of 4096 tokens. Scored are the questions whose evidence is on the user side:
abstention questions ("_abs") and questions without a user turn marked `has_answer` are
skipped (and not imported). Groups are the question types.

The turn baselines index the user's turns only, as LongMemEval's own turn-level retrieval
does (its `run_retrieval.py` builds the corpus from user turns); the chat's retrieval
searches both roles, as it does for any user.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from memoryapp.evaluation import memory_benchmark
from memoryapp.evaluation.longmemeval_data import (
    LmeQuestion,
    longmemeval_history,
    read_longmemeval,
)
from memoryapp.evaluation.memory_runner import EvalQuestion, RunPlan, evaluate
from memoryapp.evaluation.recall_report import Scoreboard
from memoryapp.models import Message

HELP = "evidence recall of the chat's retrieval on a LongMemEval file, next to turn baselines"
KS = (1, 3, 5, 10, 20, 30, 50)
BUDGETS = (256, 512, 1024, 2048, 4096)


def add_arguments(parser: ArgumentParser) -> None:
    memory_benchmark.add_arguments(
        parser,
        data_help="a LongMemEval file (.json or .json.gz)",
        limit_help="only the first N questions of the file",
    )


def run(options: Mapping[str, Any], write: Callable[[str], None]) -> None:
    memory_benchmark.run_on_scratch("longmemeval", options, write, evaluate_longmemeval)


def evaluate_longmemeval(options: Mapping[str, Any], write: Callable[[str], None]) -> Scoreboard:
    """Read, select the questions, then import, retrieve and score (on this database)."""
    path: Path = options["data"]
    questions = read_longmemeval(path)[: options.get("limit") or None]
    scored = [q for q in questions if not q.is_abstention and q.evidence()]
    abstention = sum(q.is_abstention for q in questions)
    write(
        f"{path.name}: {len(questions)} questions, "
        f"{sum(len(q.sessions) for q in scored)} sessions to import; {abstention} abstention "
        f"questions skipped, {len(questions) - abstention - len(scored)} without user "
        f"evidence skipped; {len(scored)} scored"
    )
    plan = RunPlan(
        out=options["out"],
        out_budget=memory_benchmark.out_budget(options),
        id_field="turn_ids",
        ks=KS,
        budgets=BUDGETS,
        answer_budget=memory_benchmark.answer_budget(options),
        baseline_roles=(Message.Role.USER,),
    )
    return evaluate(plan, map(longmemeval_history, scored), list(map(eval_question, scored)), write)


def eval_question(question: LmeQuestion) -> EvalQuestion:
    return EvalQuestion(
        record={"question_id": question.question_id},
        username=question.username,
        text=question.question,
        asked_at=question.asked_at,
        evidence=frozenset(question.evidence()),
        group=question.question_type,
        answer=question.answer,
    )
