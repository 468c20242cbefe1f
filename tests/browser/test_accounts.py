"""Accounts in the browser: the owner adds a member (weak passwords refused inline), the member
changes their password and lets the administrator look, sees when they did; the owner removes
a member after a preview."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Message
from tests.support.browser import screenshot, sign_in, sign_in_with_cookie
from tests.support.household import person_data
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "bees and honey in the garden"


def test_a_member_changes_their_password_and_sees_when_the_administrator_looked(
    stack: LiveStack, page: Page
) -> None:
    owner = User.objects.create_superuser("olga", password=PASSWORD)
    sign_in_with_cookie(page.context, stack.url, owner)
    page.goto("/members/")
    expect(page.locator("#admin-privacy")).to_contain_text(
        "the administrator sees only their own conversations, messages, memory and citations"
    )
    page.get_by_label("Username").fill("kid")
    page.get_by_label("Password", exact=True).fill("1234567890")
    page.get_by_label("Password again").fill("1234567890")
    page.get_by_role("button", name="Add member").click()

    expect(page.get_by_role("alert").first).to_contain_text("This password is too common.")
    expect(page.get_by_label("Username")).to_have_value("kid")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    screenshot(page, "members-weak-password")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("Added kid")

    page.context.clear_cookies()
    sign_in(page, "kid", PASSWORD)
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed.")
    consent = page.get_by_label("Let the administrator inspect my memory")
    expect(consent).not_to_be_checked()
    consent.check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("may now inspect your memory")
    expect(page.get_by_label("Let the administrator inspect my memory")).to_be_checked()

    kid = User.objects.get(username="kid")
    person_data(kid, "kidmark")
    page.context.clear_cookies()
    sign_in_with_cookie(page.context, stack.url, owner)
    page.goto("/admin/memoryapp/message/")
    expect(page.locator("#result_list")).to_contain_text("kidmark")

    page.context.clear_cookies()
    sign_in(page, "kid", NEW_PASSWORD)
    page.goto("/account/")
    expect(page.locator(".admin-accesses")).to_contain_text(
        "The administrator (olga) looked at the list of messages on"
    )
    screenshot(page, "account")


def test_the_owner_removes_a_member_after_a_preview(stack: LiveStack, page: Page) -> None:
    owner = User.objects.create_superuser("olga", password=PASSWORD)
    kid = User.objects.create_user("kid", password=PASSWORD)
    person_data(kid, "kidmark")
    sign_in_with_cookie(page.context, stack.url, owner)
    page.goto("/members/")

    page.get_by_role("link", name="Remove…").click()
    expect(page.get_by_role("heading", name="Remove kid?")).to_be_visible()
    expect(page.locator(".removal-preview")).to_contain_text("2 messages")
    expect(page.locator(".removal-preview")).to_contain_text("2 facts")
    screenshot(page, "member-remove")
    page.get_by_role("button", name="Remove kid and all of their data").click()

    expect(page.get_by_role("status")).to_contain_text("Removed kid and all of their data")
    assert not User.objects.filter(username="kid").exists()
    assert not Message.objects.exists()


def test_after_too_many_wrong_passwords_the_sign_in_page_says_signing_in_is_paused(
    stack: LiveStack, page: Page
) -> None:
    User.objects.create_user("kid", password=PASSWORD)
    page.goto("/login/")

    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        page.get_by_label("Username").fill("kid")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()

    expect(page.get_by_role("alert")).to_contain_text(
        f"signing in from here is paused for {settings.LOGIN_LOCKOUT_MINUTES} minutes"
    )
    expect(page.get_by_label("Username")).to_have_value("kid")
    screenshot(page, "sign-in-paused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("paused")
    expect(page).to_have_url(f"{stack.url}/login/")
