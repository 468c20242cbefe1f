"""The person's hands on their memory, in Chromium: correct a fact inline (a refusal said in
the form, the text kept), mark one wrong, accept and reject proposals of the review inbox,
and undo from the history, with the reason said when an undo is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, FactProposal, FactSource, MemoryChangeset
from memoryapp.services.memory.corrections import fact_edit
from tests import factories
from tests.support.browser import screenshot, sign_in_with_cookie
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser

SPRING = datetime(2024, 4, 2, tzinfo=UTC)


def _known(owner: User, text: str) -> Fact:
    said = factories.message(factories.conversation(owner, title="Home"), f"I told you: {text}")
    fact = Fact.objects.create(owner=owner, text=text, embedding=embed_texts([text])[0].tolist())
    FactSource.objects.create(fact=fact, message=said, owner=owner)
    return fact


def _proposed(owner: User, text: str, **fields: Any) -> FactProposal:
    said = factories.message(factories.conversation(owner, title="Maybe"), f"Perhaps: {text}")
    return FactProposal.objects.create(
        owner=owner,
        action=fields.pop("action", "add"),
        why=fields.pop("why", "unsure"),
        text=text,
        confidence=0.4,
        said_at=SPRING,
        source_message_ids=[said.pk],
        embedding=embed_texts([text])[0].tolist(),
        **fields,
    )


def test_correct_a_fact_and_mark_another_wrong(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("erin")
    home = _known(user, "Erin lives in Berlin.")
    parrot = _known(user, "Erin has a parrot.")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/memory/")

    fact = page.locator(f"#fact-{home.pk}")
    fact.get_by_role("button", name="Edit").click()
    form = fact.locator("form.fact-edit")
    form.get_by_label("The fact").fill("no")
    form.get_by_role("button", name="Save").click()
    expect(form).to_contain_text("Write the fact in at least 3 characters.")
    expect(form.get_by_label("The fact")).to_have_value("no")
    form.get_by_label("The fact").fill("Erin lives in Potsdam.")
    form.get_by_label("True from").fill("2024-05-01")
    screenshot(page, "memory-correct-edit")
    form.get_by_role("button", name="Save").click()
    expect(fact).to_contain_text("Erin lives in Potsdam.")
    expect(fact).to_contain_text("true since 1 May 2024")
    expect(fact).to_contain_text("Saved.")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#fact-{parrot.pk}").get_by_role("button", name="Wrong").click()
    expect(page.locator(f"#fact-{parrot.pk}")).to_contain_text("Marked wrong")
    screenshot(page, "memory-correct-done")

    home.refresh_from_db()
    parrot.refresh_from_db()
    assert home.text == "Erin lives in Potsdam." and home.user_edited_at is not None
    assert parrot.status == Fact.Status.RETRACTED


def test_review_inbox_accept_and_reject_then_undo_from_the_history(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("fred")
    home = _known(user, "Fred lives in Potsdam.")
    fact_edit(owner=user, fact=home, text="Fred lives in Potsdam, by the lake.")
    replace = _proposed(
        user, "Fred lives in Hamburg.", action="supersede", why="user_edited", target=home
    )
    unsure = _proposed(user, "Fred may like jazz.")
    sign_in_with_cookie(page.context, stack.url, user)

    page.goto("/")
    page.get_by_role("link", name="2 to review").click()
    page.wait_for_url("**/memory/review/")
    screenshot(page, "memory-review-inbox")
    page.locator(f"#proposal-{unsure.pk}").get_by_role("button", name="Reject").click()
    expect(page.locator(f"#proposal-{unsure.pk}")).to_contain_text("Rejected")
    page.locator(f"#proposal-{replace.pk}").get_by_role("button", name="Accept").click()
    expect(page.locator(f"#proposal-{replace.pk}")).to_contain_text("Accepted")
    home.refresh_from_db()
    assert home.status == Fact.Status.SUPERSEDED

    page.goto("/memory/history/")
    accepted = MemoryChangeset.objects.get(owner=user, source="review")
    edit = MemoryChangeset.objects.get(owner=user, source="user")
    row = page.locator(f"#changeset-{accepted.pk}")
    row.locator("summary").click()
    expect(row).to_contain_text("Before: Fred lives in Potsdam, by the lake.")
    earlier = page.locator(f"#changeset-{edit.pk}")
    expect(earlier).to_contain_text("Cannot be undone: Later changes touched the same memories")
    screenshot(page, "memory-history")
    row.get_by_role("button", name="Undo").click()
    expect(row).to_contain_text("Memory change undone.")
    home.refresh_from_db()
    assert home.status == Fact.Status.ACTIVE
    assert home.text == "Fred lives in Potsdam, by the lake."


def test_an_undo_refused_at_the_click_says_why_beside_the_button(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("gina")
    fact = _known(user, "Gina has a cat.")
    edit = fact_edit(owner=user, fact=fact, text="Gina has two cats.")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/memory/history/")
    fact_edit(owner=user, fact=fact, text="Gina has three cats.")  # meanwhile, elsewhere

    page.locator(f"#changeset-{edit.pk}").get_by_role("button", name="Undo").click()

    expect(page.locator(f"#changeset-{edit.pk}")).to_contain_text(
        "Later changes touched the same memories; undo those first."
    )
    assert Fact.objects.get(pk=fact.pk).text == "Gina has three cats."
