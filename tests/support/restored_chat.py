"""`python -m tests.support.restored_chat USERNAME QUESTION`: the person asks QUESTION in a new
conversation on the database of DATABASE_URL (a restored backup), answered by the scripted
model in this process; prints JSON with the answer, what the model was shown and the rows the
answer cites. Run with MEMORY_LLM=off: the scripted model is not the demo model."""

from __future__ import annotations

import json
import sys

import django


def main(username: str, question: str) -> None:
    django.setup()
    from django.contrib.auth.models import User

    from memoryapp import jobs
    from memoryapp.llm import use_backend
    from memoryapp.models import Citation, Message
    from memoryapp.services.conversations import conversation_create, message_send
    from tests.support.scripted_llm import ScriptedBackendWithDefault

    owner = User.objects.get(username=username)
    backend = ScriptedBackendWithDefault(["You keep bees."], default="A title.", delay=0)
    with use_backend(backend), jobs.run_here():
        _, answer = message_send(conversation=conversation_create(owner=owner), content=question)
    answer.refresh_from_db()
    cited = Citation.objects.filter(answer=answer).order_by("number")
    cited_messages = Message.objects.filter(
        owner=owner, pk__in=[pk for citation in cited for pk in citation.message_ids]
    )
    print(
        json.dumps(
            {
                "status": answer.status,
                "content": answer.content,
                "prompt": "\n".join(m["content"] for m in backend.calls[0].messages),
                "cited_segments": [str(c.segment_id) for c in cited if c.segment_id],
                "cited_messages": sorted(str(m.pk) for m in cited_messages),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
