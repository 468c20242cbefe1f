"""The person of docker/selftest.sh: runs inside the web container (`docker compose exec -T web
python - ...`, the script on standard input), so it needs nothing on the host but Docker.

    python - first BASE_URL SETUP_URL USERNAME PASSWORD QUESTION
        signs up as the owner through the one-time setup link, starts a conversation, sends
        QUESTION over HTTP as the composer does and reads the answer streamed over the
        conversation's websocket; prints `conversation=ID`, `fragments=N`, `answer=TEXT`.
    python - again BASE_URL USERNAME PASSWORD CONVERSATION_ID QUESTION
        signs in with the password (after the stack was restarted) and checks that the
        conversation still shows the question and a finished answer.

Exits non-zero with the reason on standard error when anything a person relies on fails.
"""

from __future__ import annotations

import html
import re
import sys

from memoryapp.devstack.live import StackError, Visitor

# An answer's final rendering, as the conversation page and the websocket's last frame show it.
ANSWER_BODY = re.compile(
    r'id="msg-(?P<id>[0-9a-f-]{36})" class="msg msg-assistant status-(?P<status>\w+)".*?'
    r'<div class="msg-body[^"]*"[^>]*>(?P<body>.*?)</div>',
    re.DOTALL,
)


def answer_text(fragment: str) -> str:
    """The text of the first finished (status done) answer in `fragment`, else ""."""
    for match in ANSWER_BODY.finditer(fragment):
        if match.group("status") == "done":
            return html.unescape(re.sub(r"<[^>]+>", "", match.group("body"))).strip()
    return ""


def first(base_url: str, setup_url: str, username: str, password: str, question: str) -> None:
    visitor = Visitor(base_url)
    visitor.sign_up_as_owner(setup_url, username, password)
    conversation_id = visitor.new_conversation()
    frames = visitor.ask(conversation_id, question)
    final = frames[-1]
    if len(frames) < 2:
        raise StackError(f"the answer was not streamed: {len(frames)} frame(s): {frames!r}")
    text = answer_text(final)
    if not text:
        raise StackError(f"no finished answer with text in the last frame: {final[:2000]}")
    print(f"conversation={conversation_id}")
    print(f"fragments={len(frames) - 1}")
    print("answer=" + " ".join(text.split())[:200])


def again(base_url: str, username: str, password: str, conversation_id: str, question: str) -> None:
    visitor = Visitor(base_url)
    visitor.get("/login/")
    status, url, body = visitor.post(
        "/login/", {"username": username, "password": password}, htmx=False
    )
    if status != 200 or "/login/" in url:
        raise StackError(f"sign-in refused ({status} {url}): {body[:2000]}")
    status, url, body = visitor.get(f"/c/{conversation_id}/")
    if status != 200:
        raise StackError(f"the conversation is gone ({status} {url}): {body[:2000]}")
    if html.escape(question, quote=False) not in body and question not in body:
        raise StackError(f"the question is not in the conversation: {body[:3000]}")
    text = answer_text(body)
    if not text:
        raise StackError(f"the conversation has no finished answer: {body[:3000]}")
    print(f"conversation={conversation_id} still there, answer=" + " ".join(text.split())[:200])


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["first"] and len(argv) == 6:
            first(*argv[1:])
        elif argv[:1] == ["again"] and len(argv) == 6:
            again(*argv[1:])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (StackError, OSError, TimeoutError) as error:
        print(f"selftest client: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
