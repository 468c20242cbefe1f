"""The profile: a short summary of the person from their active facts, always in the prompt."""

from __future__ import annotations

import logging

import pydantic
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.llm import LLMError
from memoryapp.llm.prompting import render_prompt
from memoryapp.llm.schemas import Paragraph
from memoryapp.models import Fact, Profile
from memoryapp.services.memory.model_access import MemoryModel

logger = logging.getLogger(__name__)

PROFILE_FACTS = 40
PROFILE_MAX_CHARS = 1200
# Kinds in the order a reader wants them.
KIND_ORDER = [
    "identity", "location", "work", "relationship", "health",
    "preference", "possession", "plan", "event", "other",
]  # fmt: skip


class ProfileText(pydantic.BaseModel):
    summary: Paragraph


def profile_mark_stale(*, owner: User) -> None:
    Profile.objects.update_or_create(owner=owner, defaults={"stale": True})


def _key_facts(owner: User) -> list[Fact]:
    facts = Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE).order_by(
        "-confidence", "-recorded_at"
    )[:PROFILE_FACTS]
    return sorted(facts, key=lambda f: (KIND_ORDER.index(f.kind), -f.confidence))


def profile_from_facts(facts: list[Fact]) -> str:
    """The deterministic profile: the most confident facts, grouped by kind, within a budget."""
    lines, used = [], 0
    for fact in facts:
        line = fact.text.rstrip(".") + "."
        if used + len(line) + 1 > PROFILE_MAX_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    return " ".join(lines)


def profile_rebuild(*, owner: User, model: MemoryModel | None = None) -> Profile:
    """Rewrite the owner's profile from their active facts (with the LLM when enabled)."""
    facts = _key_facts(owner)
    summary, source = profile_from_facts(facts), "facts"
    model = model or MemoryModel.for_memory()
    if facts and model.enabled:
        prompt = render_prompt(
            "profile.txt", {"facts": [f.text for f in facts], "user": owner.get_username()}
        )
        try:
            summary = model.json(
                [{"role": "user", "content": prompt}], ProfileText, max_tokens=400
            ).summary.strip()
            source = "llm"
        except LLMError as exc:
            logger.info("profile of %s falls back to its facts: %s", owner.pk, exc)
    profile, _ = Profile.objects.update_or_create(
        owner=owner,
        defaults={
            "summary": summary,
            "fact_count": len(facts),
            "source": source,
            "stale": False,
            "updated_at": timezone.now(),
        },
    )
    return profile
