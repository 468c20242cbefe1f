"""Prints the one-time link for creating the owner account, while no account exists."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from memoryapp.services.accounts import setup_token_create


class Command(BaseCommand):
    help = "Print a one-time link that creates the owner account (only while there is none)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        token = setup_token_create()
        if token is None:
            return
        url = base_url.rstrip("/") + reverse("setup", kwargs={"token": token})
        self.stdout.write(f"No account exists yet. Create the owner account here:\n  {url}")
