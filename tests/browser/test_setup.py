"""The one-time setup link creates the owner account in the browser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.services import accounts
from tests.support.browser import screenshot
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def test_setup_link_creates_the_owner_signs_them_in_and_works_once(
    stack: LiveStack, page: Page
) -> None:
    token = accounts.setup_token_create()
    assert token is not None
    wrong = page.goto("/setup/wrong-token/")
    assert wrong is not None and wrong.status == 404

    response = page.goto(f"/setup/{token}/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="Create the owner account")).to_be_visible()
    screenshot(page, "setup")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(f"{stack.url}/")
    expect(page.get_by_role("status")).to_contain_text("Your owner account is ready")
    expect(page.locator(".sidebar .who")).to_have_text("owner")
    expect(page.locator("#composer textarea")).to_be_focused()
    owner = User.objects.get()
    assert (owner.username, owner.is_staff, owner.is_superuser) == ("owner", True, True)

    for path in (f"/setup/{token}/", "/setup/wrong-token/"):
        again = page.goto(path)
        assert again is not None and again.status == 404, path
    assert User.objects.count() == 1
