"""`memory_eval locomo|longmemeval`: the runner end to end on tiny inline data sets, with a
fake `memoryapp.retrieval.retrieve_units`; and the hand-over to the scratch database."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

import memoryapp.retrieval
from memoryapp.evaluation import EvaluationError, memory_benchmark, memory_runner, scratch
from memoryapp.evaluation.locomo import evaluate_locomo
from memoryapp.evaluation.longmemeval import evaluate_longmemeval
from memoryapp.evaluation.memory_runner import owner_turns
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Message
from tests import factories
from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json


class Printed(list[str]):
    @property
    def text(self) -> str:
        return "\n".join(self) + "\n"


@dataclass(frozen=True)
class FakeUnit:
    number: int
    kind: str
    text: str
    message_ids: tuple[UUID, ...]
    score: float
    tokens: int


@dataclass(frozen=True)
class Call:
    username: str
    question: str
    now: datetime
    token_budget: int


class FakeRetrieval:
    """Packs units made of the owner's messages named by `plan` (external ids, tokens) into
    the budget, whatever the question; records its calls."""

    def __init__(self, plan: Sequence[tuple[Sequence[str], int]]) -> None:
        self.plan = plan
        self.calls: list[Call] = []

    def __call__(
        self, *, owner: User, question: str, now: datetime, token_budget: int
    ) -> list[FakeUnit]:
        self.calls.append(Call(owner.username, question, now, token_budget))
        ids = dict(Message.objects.filter(owner=owner).values_list("external_id", "pk"))
        fitting = [(names, t) for names, t in self.plan if t <= token_budget]
        return [
            FakeUnit(n, "segment", f"unit {n}", tuple(ids[e] for e in names if e in ids), 1.0, t)
            for n, (names, t) in enumerate(fitting, start=1)
        ]


def options(data: Path, out: Path, **extra: Any) -> dict[str, Any]:
    return {"data": data, "out": out, "limit": None, "answer": False, **extra}


def rows(output: str, method: str, group: str = "all") -> list[list[str]]:
    """The cells after method and group of the table rows of `method` and `group`
    (columns are at least two spaces apart)."""
    split = [re.split(r"\s{2,}", line.strip()) for line in output.splitlines()]
    return [cells[2:] for cells in split if cells[:2] == [method, group]]


@pytest.fixture(autouse=True)
def _no_llm(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


@pytest.mark.django_db
def test_locomo_run_writes_units_per_question_and_prints_recall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRetrieval([(["D2:2"], 5), (["D1:1", "D1:2"], 600)])
    monkeypatch.setattr(memoryapp.retrieval, "retrieve_units", fake, raising=False)
    data = write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])
    out, printed = tmp_path / "run.jsonl", Printed()

    evaluate_locomo(options(data, out), printed.append)

    units = [{"dia_ids": ["D2:2"], "tokens": 5}, {"dia_ids": ["D1:1", "D1:2"], "tokens": 600}]
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"sample_id": "conv-1", "qa_index": 0, "units": units},
        {"sample_id": "conv-1", "qa_index": 1, "units": units},
        {"sample_id": "conv-1", "qa_index": 2, "units": units},
    ]
    asked = datetime(2023, 6, 27, 10, 38, tzinfo=UTC)
    # Once per budget and question, at the end of the conversation.
    assert {(c.username, c.now) for c in fake.calls} == {("locomo-conv-1", asked)}
    assert sorted(c.token_budget for c in fake.calls) == sorted([256, 512, 1024, 2048] * 3)
    output = printed.text
    assert "6 questions: 1 of category 5 skipped, 2 without evidence skipped" in output
    assert "2 with evidence ids normalised, 1 unknown evidence ids dropped; 3 scored" in output
    assert "conv-1 #2: ['D1:1; D:2:2'] -> ['D1:1', 'D2:2']" in output
    # Evidence: q0 D1:1 (unit 2), q1 D2:2 (unit 1), q2 D1:1 + D2:2 (units 1 and 2).
    header = ["n", "@1", "@3", "@5", "@10", "@20", "256t", "512t", "1024t", "2048t"]
    any_row, all_row = (dict(zip(header, r, strict=True)) for r in rows(output, "memoryapp"))
    assert any_row["n"] == "3" and any_row["@1"] == "0.667" and any_row["@3"] == "1.000"
    assert any_row["256t"] == "0.667" and any_row["1024t"] == "1.000"
    assert all_row["@1"] == "0.333" and all_row["@3"] == "1.000"
    for method in ("BM25 turns", "dense turns", "RRF turns"):
        assert len(rows(output, method)) == 2, method  # "any" and "all"
    assert len(rows(output, "memoryapp", "1 multi-hop")) == 2


@pytest.mark.django_db
def test_out_holds_the_context_of_the_out_budget_call_in_prompt_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRetrieval([(["D1:1", "D1:2"], 600), (["D2:2"], 5), (["D1:3"], 1500)])
    monkeypatch.setattr(memoryapp.retrieval, "retrieve_units", fake, raising=False)
    data = write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])
    out = tmp_path / "run.jsonl"

    evaluate_locomo(options(data, out, out_budget=1024), Printed().append)

    # The 2048-token call packs the third unit too; the 1,024-token prompt does not have it.
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {json.dumps(line["units"]) for line in lines} == {
        json.dumps(
            [{"dia_ids": ["D1:1", "D1:2"], "tokens": 600}, {"dia_ids": ["D2:2"], "tokens": 5}]
        )
    }
    assert len(lines) == 3


@pytest.mark.django_db
def test_out_budget_defaults_to_the_chats_budget_and_is_asked_even_if_not_a_table_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CHAT_MEMORY_TOKENS = 300
    fake = FakeRetrieval([(["D1:1", "D1:2"], 280), (["D2:2"], 310)])
    monkeypatch.setattr(memoryapp.retrieval, "retrieve_units", fake, raising=False)
    data = write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])
    out = tmp_path / "run.jsonl"

    evaluate_locomo(options(data, out), Printed().append)

    assert 300 in {c.token_budget for c in fake.calls}
    for line in out.read_text().splitlines():
        assert json.loads(line)["units"] == [{"dia_ids": ["D1:1", "D1:2"], "tokens": 280}]


@pytest.mark.django_db
def test_longmemeval_run_scores_questions_with_user_evidence_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRetrieval([(["s2:2", "s2:3"], 20)])
    monkeypatch.setattr(memoryapp.retrieval, "retrieve_units", fake, raising=False)
    data = write_json(tmp_path / "lme.json", LONGMEMEVAL)
    out, printed = tmp_path / "run.jsonl", Printed()

    evaluate_longmemeval(options(data, out), printed.append)

    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"question_id": "q1", "units": [{"turn_ids": ["s2:2", "s2:3"], "tokens": 20}]}
    ]
    assert {(c.username, c.now) for c in fake.calls} == {
        ("lme-q1", datetime(2023, 6, 1, 10, 0, tzinfo=UTC))
    }
    assert max(c.token_budget for c in fake.calls) == 4096
    assert not User.objects.filter(username__in=["lme-q2_abs", "lme-q3"]).exists()
    output = printed.text
    assert "1 abstention questions skipped, 1 without user evidence skipped; 1 scored" in output
    assert rows(output, "memoryapp")[0][:2] == ["1", "1.000"]
    # Six turns: every baseline has the evidence turn within its first ten.
    for method in ("BM25", "dense", "RRF"):
        assert rows(output, f"{method} turns")[0][4] == "1.000"


@pytest.mark.django_db
def test_answers_are_scored_with_token_f1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRetrieval([(["D2:2"], 5), (["D1:1", "D1:2"], 600)])
    monkeypatch.setattr(memoryapp.retrieval, "retrieve_units", fake, raising=False)
    data = write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])
    backend = ScriptedBackend(["Pixel", "Porto", "to sit"])
    printed = Printed()

    with use_backend(backend):
        evaluate_locomo(
            options(data, tmp_path / "run.jsonl", answer=True, answer_budget=256), printed.append
        )

    # 256 tokens hold the first unit only.
    assert all("unit 2" not in call.messages[-1]["content"] for call in backend.calls)
    assert "answers from the memoryapp context packed into 256 tokens (0 failed)" in printed.text
    assert rows(printed.text, "all", "3") == [["0.667"]]
    assert rows(printed.text, "2 temporal", "1") == [["0.000"]]


@pytest.mark.django_db
def test_without_retrieval_the_baselines_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(memoryapp.retrieval, "retrieve_units", raising=False)
    data = write_json(tmp_path / "lme.json", LONGMEMEVAL[:1])
    out, printed = tmp_path / "run.jsonl", Printed()

    evaluate_longmemeval(options(data, out), printed.append)

    assert "retrieve_units does not exist yet: baselines only" in printed.text
    assert rows(printed.text, "BM25 turns")
    assert not out.exists()


def test_the_command_runs_the_benchmark_again_on_scratch_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[tuple[list[str], Mapping[str, str]]] = []

    def rerun(arguments: list[str], *, environment: Mapping[str, str], write: Any) -> None:
        handed.append((arguments, environment))

    monkeypatch.setattr(memory_benchmark, "rerun_in_scratch", rerun)
    data = write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])

    call_command(
        "memory_eval", "locomo", "--data", str(data), "--out", str(tmp_path / "r.jsonl"),
        "--llm", "off", "--limit", "2", stdout=StringIO(),
    )  # fmt: skip

    assert handed == [
        (
            [
                "locomo",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "r.jsonl"),
                "--answer-budget",
                "1024",
                "--out-budget",
                str(settings.CHAT_MEMORY_TOKENS),
                "--limit",
                "2",
            ],
            {"MEMORY_LLM": "off"},
        )
    ]


def test_out_budget_is_handed_to_the_scratch_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[list[str]] = []
    monkeypatch.setattr(
        memory_benchmark,
        "rerun_in_scratch",
        lambda arguments, *, environment, write: handed.append(arguments),
    )
    data = write_json(tmp_path / "lme.json", LONGMEMEVAL)

    call_command(
        "memory_eval", "longmemeval", "--data", str(data), "--out", str(tmp_path / "r.jsonl"),
        "--out-budget", "4096", stdout=StringIO(),
    )  # fmt: skip

    assert handed[0][handed[0].index("--out-budget") + 1] == "4096"


def test_a_missing_data_file_fails_before_any_server_starts(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is not a file"):
        call_command(
            "memory_eval", "longmemeval", "--data", str(tmp_path / "nope.json"),
            "--out", str(tmp_path / "r.jsonl"), stdout=StringIO(),
        )  # fmt: skip


def test_only_the_scratch_database_counts_as_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(scratch.SCRATCH_VARIABLE, raising=False)
    assert not scratch.in_scratch_database()
    with pytest.raises(EvaluationError, match="not the scratch database"):
        scratch.prepare_scratch_database()

    monkeypatch.setenv(scratch.SCRATCH_VARIABLE, "postgres://postgres@127.0.0.1:1/other")
    assert not scratch.in_scratch_database()

    monkeypatch.setenv(scratch.SCRATCH_VARIABLE, settings.DATABASE_URL)
    assert scratch.in_scratch_database()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("benchmark", "roles"), [("longmemeval", (Message.Role.USER,)), ("locomo", None)]
)
def test_longmemeval_baselines_index_user_turns_and_locomo_baselines_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, benchmark: str, roles: Any
) -> None:
    asked: list[Any] = []

    def recording(owner: User, roles: Any = None) -> Any:
        asked.append(roles)
        return owner_turns(owner, roles=roles)

    monkeypatch.setattr(memory_runner, "owner_turns", recording)
    monkeypatch.delattr(memoryapp.retrieval, "retrieve_units", raising=False)
    if benchmark == "longmemeval":
        data = write_json(tmp_path / "lme.json", LONGMEMEVAL[:1])
        evaluate_longmemeval(options(data, tmp_path / "run.jsonl"), Printed().append)
    else:
        data = write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])
        evaluate_locomo(options(data, tmp_path / "run.jsonl"), Printed().append)

    assert asked and set(asked) == {roles}


@pytest.mark.django_db
def test_the_baselines_can_index_the_users_turns_alone() -> None:
    owner = factories.user("lme-roles")
    chat = factories.conversation(owner)
    factories.message(chat, "I adopted a greyhound.", external_id="s1:0")
    factories.message(chat, "Greyhounds love to sleep.", role="assistant", external_id="s1:1")

    everyone = owner_turns(owner)
    users = owner_turns(owner, roles=(Message.Role.USER,))

    assert [unit.turn_ids for unit in everyone.units] == [{"s1:0"}, {"s1:1"}]
    assert [unit.turn_ids for unit in users.units] == [{"s1:0"}]
    assert users.bm25.size == 1 and users.embeddings.shape[0] == 1
