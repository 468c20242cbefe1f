"""The chips under an answer: which memory it cited, linking to where it was said."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from memoryapp.models import Citation, Message


@dataclass(frozen=True)
class Chip:
    number: int
    href: str
    label: str
    title: str


def citation_chips(*, answer: Message) -> list[Chip]:
    """One chip per memory unit the answer cited, owner-scoped, in number order."""
    citations = list(
        Citation.objects.filter(answer=answer, owner_id=answer.owner_id, cited=True).order_by(
            "number"
        )
    )
    ids = {message_id for c in citations for message_id in c.message_ids}
    sources = Message.objects.filter(owner_id=answer.owner_id, pk__in=ids).in_bulk()
    chips = []
    for citation in citations:
        found = sorted(
            (sources[m] for m in citation.message_ids if m in sources), key=lambda m: m.created_at
        )
        if not found:
            continue
        first = found[0]
        url = reverse("conversation", kwargs={"conversation_id": first.conversation_id})
        highlight = ",".join(str(m.pk) for m in found)
        chips.append(
            Chip(
                number=citation.number,
                href=f"{url}?highlight={highlight}#msg-{first.pk}",
                label=f"{first.created_at:%b %-d, %Y}",
                title=first.content[:200],
            )
        )
    return chips
