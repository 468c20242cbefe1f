from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import SetPasswordMixin, UserCreationForm
from django.contrib.auth.models import User

from memoryapp.llm.schemas import SENTENCE_MAX_CHARS
from memoryapp.models import ImportJob
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


class ImportForm(forms.Form):
    """A file to import on the Memory page, and what it is."""

    format = forms.ChoiceField(
        choices=ImportJob.Format.choices, widget=forms.RadioSelect, label="What it is"
    )
    file = forms.FileField(
        label="File",
        widget=forms.FileInput(attrs={"accept": ".json,.zip,application/json,application/zip"}),
    )
    merge = forms.BooleanField(
        required=False,
        label="Add to the memory I have (a memoryapp export into an account with history)",
    )


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)


class AccountForm(UserCreationForm[User]):
    """A new account (the owner's at setup, or a member's): a username not taken in any case,
    and a password typed twice that passes settings.AUTH_PASSWORD_VALIDATORS (its similarity
    to the username included). Creating the user is the service's job, not this form's."""

    password1, password2 = SetPasswordMixin.create_password_fields(label2="Password again")


class PrivacyForm(forms.Form):
    admin_may_inspect = forms.BooleanField(
        required=False, label="Let the administrator inspect my memory"
    )


class NewConversationForm(forms.Form):
    incognito = forms.BooleanField(required=False, label="Don't remember this conversation")


class SwitchForm(forms.Form):
    """An on/off switch (incognito, memory pause), posted as state=on or state=off."""

    state = forms.ChoiceField(choices=[("on", "on"), ("off", "off")])

    @property
    def on(self) -> bool:
        return bool(self.cleaned_data["state"] == "on")


class FactEditForm(forms.Form):
    """A fact as the person corrects it; the text's bounds are the service's to say."""

    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": SENTENCE_MAX_CHARS}),
    )
    valid_from = forms.DateField(
        required=False,
        label="True from",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    valid_to = forms.DateField(
        required=False,
        label="True until",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
