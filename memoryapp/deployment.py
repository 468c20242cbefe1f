"""Production settings that would leave the site open, refused at start-up.

With DEBUG false (production), `settings.py` passes what it read to `production_problems`
and stops the process with every problem found, each saying what to set and how, rather
than serving with a guessable signing key, no allowed host or the example database password.

The values refused as examples are the ones this project's own files show (docker/.env.example,
the README, the Dockerfile's build step) and a few common defaults; tests tie them together,
so a new placeholder in docker/.env.example that would get through fails there.

Read by `settings.py` before Django is set up: nothing here may touch `django.conf.settings`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

# ALLOWED_HOSTS by default: a site for this machine only.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
GENERATE_KEY_COMMAND = 'python3 -c "import secrets; print(secrets.token_urlsafe(50))"'

# Keys shown as examples (README, Dockerfile) or commonly left in place. Most are also too short
# for Django's strength rule, which applies to every key; these are named in the refusal.
EXAMPLE_SECRET_KEYS = frozenset(
    {
        "collectstatic-only-not-a-secret",
        "the web server\N{RIGHT SINGLE QUOTATION MARK}s key",
        "change-me",
        "changeme",
        "secret",
        "secret-key",
        "your-secret-key",
        "insecure",
    }
)
# Database passwords shown as examples (README's PASSWORD placeholder in DATABASE_URL) or the
# defaults of common Postgres images and guides; compared without regard to case.
EXAMPLE_DATABASE_PASSWORDS = frozenset(
    {"password", "change-me", "changeme", "postgres", "memoryapp", "example", "secret"}
)


def local_secret_key(var_dir: Path) -> str:
    """The key kept in `var_dir/secret_key`, generated (random, 67 characters) the first time,
    in a file only its owner can read: the key of one machine's processes (`make run`)."""
    path = secret_key_file(var_dir)
    return path.read_text().strip()


def secret_key_file(var_dir: Path) -> Path:
    """`var_dir/secret_key`, created with a new random key when missing."""
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(50))
    return path


def production_problems(
    *,
    secret_key: str,
    allowed_hosts: list[str],
    database: Mapping[str, Any],
    postgres_password: str | None,
) -> list[str]:
    """What makes these production settings unsafe, one sentence each (empty: none).

    `secret_key` is the configured key ("" when SECRET_KEY and SECRET_KEY_FILE give none),
    `database` Django's parsed DATABASES entry, `postgres_password` the POSTGRES_PASSWORD
    variable (Docker Compose's), None when it is not set."""
    problems = [*_secret_key_problems(secret_key)]
    if not allowed_hosts:
        problems.append(
            "ALLOWED_HOSTS is empty: set it to the host names people open the site by, "
            "comma-separated, e.g. ALLOWED_HOSTS=memory.example.org,localhost."
        )
    problems.extend(_database_password_problems(database, postgres_password))
    return problems


def _secret_key_problems(key: str) -> list[str]:
    how = (
        f"Generate one with `{GENERATE_KEY_COMMAND}` and set SECRET_KEY to it, or "
        "SECRET_KEY_FILE to a file holding it (Docker Compose: docker/secrets/secret_key); "
        "`make run` keeps one in var/secret_key."
    )
    if not key:
        return [
            "SECRET_KEY is not set, or SECRET_KEY_FILE names an empty file; a site served "
            f"beyond localhost (ALLOWED_HOSTS) needs a key of its own. {how}"
        ]
    if key.lower() in EXAMPLE_SECRET_KEYS:
        return [f"SECRET_KEY is left at the example value {key!r}. {how}"]
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return [f"SECRET_KEY is one Django made for development ({key[:16]}...). {how}"]
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return [
            f"SECRET_KEY is too easy to guess ({len(key)} characters, {len(set(key))} different; "
            f"at least {SECRET_KEY_MIN_LENGTH} and {SECRET_KEY_MIN_UNIQUE_CHARACTERS} needed). "
            f"{how}"
        ]
    return []


def _database_password_problems(
    database: Mapping[str, Any], postgres_password: str | None
) -> list[str]:
    problems = []
    how = (
        "Choose a long random one, e.g. with "
        '`python3 -c "import secrets; print(secrets.token_hex(24))"` (letters and digits, '
        "safe in a URL)"
    )
    if postgres_password is not None and _is_example_password(postgres_password, "memoryapp"):
        shown = repr(postgres_password) if postgres_password else "empty"
        problems.append(
            f"POSTGRES_PASSWORD is {shown}, the example value. {how} and set it in docker/.env "
            "before the database is first created (Postgres keeps the password it started with)."
        )
    password = str(database.get("PASSWORD") or "")
    user = str(database.get("USER") or "")
    # An empty password in DATABASE_URL is allowed: a local socket with peer authentication,
    # or PGPASSWORD / ~/.pgpass, supplies it.
    if password and _is_example_password(password, user):
        problems.append(
            f"The password in DATABASE_URL is {password!r}, an example value. {how}, give it to "
            "the database user (ALTER USER ... PASSWORD ...) and put it in DATABASE_URL."
        )
    return problems


def _is_example_password(password: str, user: str) -> bool:
    lowered = password.lower()
    return not password or lowered in EXAMPLE_DATABASE_PASSWORDS or lowered == user.lower()
