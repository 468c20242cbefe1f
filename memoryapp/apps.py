from __future__ import annotations

from django.apps import AppConfig


class MemoryappConfig(AppConfig):
    name = "memoryapp"
    verbose_name = "memoryapp"
    default_auto_field = "django.db.models.BigAutoField"
