"""The profile: a short summary of the person from their active facts, always in the prompt."""

from __future__ import annotations

import logging

import pydantic
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.llm import LLMError
from memoryapp.llm.prompting import prompt_within, render_prompt
from memoryapp.llm.schemas import Paragraph
from memoryapp.models import Fact, Profile
from memoryapp.services.memory.model_access import MemoryModel, llm_stages_on
from memoryapp.services.model_manager.choice import active_model_is_demo

logger = logging.getLogger(__name__)

PROFILE_FACTS = 40
PROFILE_MAX_CHARS = 1200
PROFILE_MAX_TOKENS = 400
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


def _least_sure_first(facts: list[Fact]) -> list[int]:
    """The order in which facts are left out of a prompt that cannot show them all."""
    return sorted(range(len(facts)), key=lambda i: (facts[i].confidence, facts[i].recorded_at))


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
        user = owner.get_username()
        try:
            prompt = prompt_within(
                model.active,
                [f.text for f in facts],
                render=lambda shown: render_prompt(
                    "profile.txt", {"facts": [text for _, text in shown], "user": user}
                ),
                max_tokens=PROFILE_MAX_TOKENS,
                droppable=_least_sure_first(facts),
            )
            summary = model.json(
                [{"role": "user", "content": prompt.text}],
                ProfileText,
                max_tokens=PROFILE_MAX_TOKENS,
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


def profile_refresh(*, owner: User) -> None:
    """After the person's facts changed by their hand (a correction, a review, an undo, a
    forget): rebuilt at once from the facts, without the model (no model call in a web
    request, nor inside the change's transaction), so the chat's prompt no longer says what
    changed; marked stale when memory's LLM stages are on, for the sleep pass to rewrite it
    with the model."""
    profile_rebuild(owner=owner, model=MemoryModel(None))
    if llm_stages_on(settings.MEMORY_LLM, is_demo=active_model_is_demo()):
        profile_mark_stale(owner=owner)
