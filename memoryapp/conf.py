"""Typed access to environment variables for `settings.py`.

A thin layer over django-environ's `FileAwareEnv` (which reads `NAME_FILE` when set, for
Docker secrets) that returns real types and turns every bad value into an
`ImproperlyConfigured` naming the variable, so a typo stops the process at start-up.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import environ
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    def __init__(self) -> None:
        self._env = environ.FileAwareEnv()

    def _raw(self, name: builtins.str) -> builtins.str | None:
        try:
            value = self._env.str(name, default=None)
        except (OSError, ImproperlyConfigured) as exc:  # e.g. NAME_FILE points nowhere
            raise ImproperlyConfigured(f"{name}: {exc}") from exc
        return None if value is None else str(value)

    def _parse(self, name: builtins.str, default: T, parse: Callable[[builtins.str], T]) -> T:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}={raw!r} is not valid: {exc}") from exc

    def str(self, name: builtins.str, default: builtins.str) -> builtins.str:
        return self._parse(name, default, lambda raw: raw)

    def int(self, name: builtins.str, default: builtins.int) -> builtins.int:
        return self._parse(name, default, int)

    def float(self, name: builtins.str, default: builtins.float) -> builtins.float:
        return self._parse(name, default, float)

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        def parse(raw: builtins.str) -> builtins.bool:
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected one of 1/0, true/false, yes/no, on/off")

        return self._parse(name, default, parse)

    def list(
        self, name: builtins.str, default: builtins.list[builtins.str]
    ) -> builtins.list[builtins.str]:
        return self._parse(
            name, default, lambda raw: [item.strip() for item in raw.split(",") if item.strip()]
        )

    def path(self, name: builtins.str, default: Path) -> Path:
        return self._parse(name, default, lambda raw: Path(raw).expanduser().resolve())

    def db_url_config(self, url: builtins.str) -> dict[builtins.str, Any]:
        try:
            config: dict[builtins.str, Any] = environ.Env.db_url_config(url)
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
        if config.get("ENGINE") != "django.db.backends.postgresql":
            raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (with pgvector)")
        return config


env = Env()
