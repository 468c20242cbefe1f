from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import UsernameField

from memoryapp.services.conversations import TITLE_MAX_CHARS, validate_message_content


class MessageForm(forms.Form):
    content = forms.CharField(
        strip=False,
        required=False,  # emptiness gets our own message, below
        widget=forms.Textarea(
            attrs={
                "rows": 1,
                "placeholder": "Message the assistant…",
                "title": "Enter sends, Shift+Enter starts a new line",
                "aria-label": "Message",
                "autofocus": True,
            }
        ),
    )

    def clean_content(self) -> str:
        content: str = self.cleaned_data.get("content") or ""
        return validate_message_content(content)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Let the browser stop the user early too (the server check above is the real one).
        self.fields["content"].widget.attrs["maxlength"] = settings.CHAT_MESSAGE_MAX_CHARS


class RenameForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX_CHARS)


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)


class AccountForm(forms.Form):
    """Username and password twice, with Django's password validators."""

    username = UsernameField(max_length=150)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is taken.")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(first)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned
