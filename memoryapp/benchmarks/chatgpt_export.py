"""A made-up ChatGPT data export to time imports with: N short conversations (3 to 5
exchanges each) about everyday things, shaped as ChatGPT writes them: a root node, a hidden
system message, now and then an edited question (the branch left behind stays in the
mapping), a code call with its tool output, an image beside the text of a question.

    .venv/bin/python -m memoryapp.benchmarks.chatgpt_export --conversations 1000 \\
        --out var/bench/chatgpt-1000.zip

then `make manage ARGS="memory_import chatgpt var/bench/chatgpt-1000.zip --user bench"`.
Deterministic for a seed; needs no database.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
import zipfile
from pathlib import Path
from typing import Any

START = 1_704_067_200.0  # 2024-01-01 00:00 UTC
DAY = 86_400.0

NAMES = ["Ana", "Ben", "Chloe", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
PLACES = ["Lisbon", "Kyoto", "Oslo", "Porto", "Vienna", "Seville", "Krakow", "Lyon", "Ghent"]
PETS = ["a cat called Miso", "a dog called Pixel", "two rabbits", "a parrot called Kiwi"]
DISHES = ["a lentil curry", "sourdough bread", "a mushroom risotto", "pad thai", "gazpacho"]
HOBBIES = ["bouldering", "the cello", "watercolour", "chess", "running", "birdwatching"]
JOBS = ["a nurse", "a data analyst", "a teacher", "an electrician", "a translator"]

# (question, follow-ups, answers): {slots} are filled from the lists above.
TOPICS: list[tuple[str, list[str], list[str]]] = [
    (
        "I'm planning a trip to {place} with {name} in {month}. What should we not miss?",
        [
            "We will stay {nights} nights, near the old town. Is that enough?",
            "{name} doesn't like museums much. Any outdoor ideas?",
            "What is a sensible daily budget there, roughly?",
            "We land at {hour} in the evening. How do we get into town?",
        ],
        [
            "{place} in {month} is lovely: mild days, and fewer crowds than in summer.",
            "{nights} nights is enough for the centre and one day trip.",
            "Walking tours, the riverside and a day in the hills would suit {name}.",
            "Around {budget} euros a day each covers food, transport and a few sights.",
        ],
    ),
    (
        "I want to cook {dish} for {count} people on Saturday. Can you help me plan it?",
        [
            "One of them is vegan. What do I change?",
            "I only have one big pot. Does that work?",
            "How far ahead can I prepare it?",
            "What would go well as a dessert?",
        ],
        [
            "For {count} people, double the base recipe and keep the spices as they are.",
            "Use oil instead of butter and a vegetable stock, and it is vegan.",
            "You can prepare the base a day ahead; it tastes better on the second day.",
            "A simple fruit salad or a lemon sorbet keeps the meal light.",
        ],
    ),
    (
        "I have {pet} and I'm moving flats next month. How do I keep the move calm?",
        [
            "The new flat is on the {floor} floor. Is that a problem?",
            "Should I take a few days off work for it?",
            "My neighbour {name} offered to help. What could they do?",
        ],
        [
            "Keep one quiet room with familiar things and move that room last.",
            "The {floor} floor is fine; keep windows closed until things settle.",
            "A day or two at home after the move helps more than before it.",
        ],
    ),
    (
        "I started {hobby} {months} months ago and I feel stuck. Any advice?",
        [
            "I can practise about {minutes} minutes a day. Is that enough?",
            "My friend {name} suggested a class. Worth it?",
            "How do I know I'm improving?",
        ],
        [
            "Being stuck after {months} months is normal; change one thing at a time.",
            "{minutes} minutes every day beats two long sessions a week.",
            "A class gives you feedback you cannot give yourself.",
        ],
    ),
    (
        "I work as {job} and I'd like to ask for a raise. How should I prepare?",
        [
            "I have been there for {years} years. Does that help?",
            "My manager {name} is very busy. When should I ask?",
            "What if they say no?",
        ],
        [
            "Write down what you took on in the last year, with numbers where you can.",
            "{years} years of steady work is a good base for the conversation.",
            "If the answer is no, ask what would make it a yes in six months.",
        ],
    ),
]
MONTHS = ["March", "April", "May", "June", "September", "October"]


def _fill(template: str, slots: dict[str, Any]) -> str:
    return template.format(**slots)


def _slots(rng: random.Random) -> dict[str, Any]:
    return {
        "name": rng.choice(NAMES),
        "place": rng.choice(PLACES),
        "month": rng.choice(MONTHS),
        "nights": rng.randint(3, 9),
        "hour": rng.randint(6, 11),
        "budget": rng.choice([60, 80, 100, 120]),
        "dish": rng.choice(DISHES),
        "count": rng.randint(4, 12),
        "pet": rng.choice(PETS),
        "floor": rng.choice(["second", "fourth", "sixth"]),
        "hobby": rng.choice(HOBBIES),
        "months": rng.randint(2, 18),
        "minutes": rng.choice([15, 20, 30, 45]),
        "job": rng.choice(JOBS),
        "years": rng.randint(2, 12),
    }


class _Tree:
    """A conversation's mapping, built node by node."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mapping: dict[str, dict[str, Any]] = {}
        self.current = self._node(None, None)

    def _node(self, parent: str | None, message: dict[str, Any] | None) -> str:
        node_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.mapping[node_id] = {
            "id": node_id,
            "message": message,
            "parent": parent,
            "children": [],
        }
        if parent is not None:
            self.mapping[parent]["children"].append(node_id)
        return node_id

    def add(self, role: str, content: dict[str, Any], at: float | None, **extra: Any) -> str:
        metadata = extra.pop("metadata", {})
        message = {
            "id": "",
            "author": {"role": role, "name": extra.pop("name", None), "metadata": {}},
            "create_time": at,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": role == "assistant" or None,
            "weight": 1.0,
            "metadata": metadata,
            "recipient": extra.pop("recipient", "all"),
            "channel": None,
        }
        node_id = self._node(self.current, message)
        message["id"] = node_id
        self.current = node_id
        return node_id

    def branch_from(self, node_id: str) -> None:
        """Go back to `node_id`: the next node is an edit of its child."""
        self.current = node_id


def _text(*parts: Any) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(parts)}


def _conversation(rng: random.Random, index: int) -> dict[str, Any]:
    question, follow_ups, answers = rng.choice(TOPICS)
    slots = _slots(rng)
    started = START + index * DAY * rng.uniform(0.2, 0.6)
    at = started
    tree = _Tree(rng)
    tree.add(
        "system",
        _text(""),
        None,
        metadata={"is_visually_hidden_from_conversation": True},
    )
    exchanges = rng.randint(3, 5)
    questions = [question, *rng.sample(follow_ups, k=min(exchanges - 1, len(follow_ups)))]
    model = rng.choice(["gpt-4o", "gpt-4o-mini", "o3"])
    for turn, asked in enumerate(questions):
        at += rng.uniform(20, 600)
        before = tree.current
        text = _fill(asked, slots)
        if turn and rng.random() < 0.1:  # asked, answered, then edited
            tree.add("user", _text(text + " Actually, never mind."), at)
            tree.add("assistant", _text("No problem."), at + 5, metadata={"model_slug": model})
            tree.branch_from(before)
            at += 30
        if rng.random() < 0.05:
            image = {"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"}
            tree.add("user", {"content_type": "multimodal_text", "parts": [image, text]}, at)
        else:
            tree.add("user", _text(text), at)
        if rng.random() < 0.05:
            code = {"content_type": "code", "language": "python", "text": "print(2 * 21)"}
            tree.add("assistant", code, at + 3, recipient="python")
            tree.add("tool", {"content_type": "execution_output", "text": "42"}, at + 4)
        answer = _fill(answers[min(turn, len(answers) - 1)], slots)
        answer += " " + _fill(rng.choice(answers), slots)
        tree.add(
            "assistant", _text(answer), at + rng.uniform(5, 40), metadata={"model_slug": model}
        )
    conversation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return {
        "title": _fill(question, slots)[:60].rstrip(" .?,"),
        "create_time": started,
        "update_time": at,
        "mapping": tree.mapping,
        "moderation_results": [],
        "current_node": tree.current,
        "conversation_id": conversation_id,
        "id": conversation_id,
        "default_model_slug": model,
        "is_archived": False,
    }


def chatgpt_export_write(path: Path, *, conversations: int, seed: int = 0) -> int:
    """Write a made-up ChatGPT export of `conversations` conversations to `path` (a .zip, as
    downloaded, or conversations.json); returns how many user and assistant messages its
    current branches hold."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    data = [_conversation(rng, index) for index in range(conversations)]
    kept = sum(
        1
        for conversation in data
        for node_id in _branch(conversation)
        if _kept(conversation["mapping"][node_id]["message"])
    )
    text = json.dumps(data, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("conversations.json", text)
            archive.writestr("chat.html", "<html><body>made up</body></html>")
    else:
        path.write_text(text, encoding="utf-8")
    return kept


def _branch(conversation: dict[str, Any]) -> list[str]:
    branch, node_id = [], conversation["current_node"]
    while node_id is not None:
        branch.append(node_id)
        node_id = conversation["mapping"][node_id]["parent"]
    return branch


def _kept(message: dict[str, Any] | None) -> bool:
    return (
        message is not None
        and message["author"]["role"] in ("user", "assistant")
        and message["recipient"] == "all"
        and message["content"]["content_type"] in ("text", "multimodal_text")
        and not message["metadata"].get("is_visually_hidden_from_conversation")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True, help="a .zip or a .json file")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    kept = chatgpt_export_write(options.out, conversations=options.conversations, seed=options.seed)
    print(f"wrote {options.out}: {options.conversations} conversations, {kept} messages to import")


if __name__ == "__main__":
    main()
