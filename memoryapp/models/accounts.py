"""Members' privacy: whether the administrator may inspect a member's data in the admin, and
the record of every time they did."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils import timezone


class MemberSettings(models.Model):
    """A person's own settings; a missing row means every default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="member_settings",
    )
    # Off: the admin shows this person's conversations, messages, memory and citations to
    # nobody but themselves (if they are staff).
    admin_may_inspect = models.BooleanField(
        "let the administrator inspect my memory", default=False
    )
    # On: new messages are kept as chat history but never enter memory (`Message.private`).
    memory_paused = models.BooleanField("pause memory", default=False, db_default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "member settings"

    def __str__(self) -> str:
        return f"Settings of {self.user}"


class AdminAccess(models.Model):
    """One admin page that showed a staff user data of another person (who consented)."""

    # `object_id` of a changelist page (the rows shown belonged, at least in part, to `member`).
    LIST = "list"

    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_accesses_made"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_accesses"
    )
    # "app_label.model_name" of what was shown, and the object's primary key or LIST.
    model = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["member", "-at"], name="adminaccess_member_at")]

    def __str__(self) -> str:
        return f"{self.viewer} looked at {self.what} of {self.member} on {self.at:%Y-%m-%d %H:%M}"

    @property
    def what(self) -> str:
        """In words: "the list of messages", "a fact (id 42)"."""
        try:
            meta = apps.get_model(self.model)._meta
            singular, plural = str(meta.verbose_name), str(meta.verbose_name_plural)
        except (LookupError, ValueError):
            singular = plural = self.model
        if self.object_id == self.LIST:
            return f"the list of {plural}"
        return f"a {singular} (id {self.object_id})"
