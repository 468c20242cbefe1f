"""Production settings (DEBUG false) that would leave the site open stop the process at start,
with what to set; behind an HTTPS proxy the site sends secure cookies, HSTS and redirects to
HTTPS (except /healthz); and `check --deploy` passes with a valid production environment.

Settings are read once, at import: each environment is tried in a process of its own."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from memoryapp import deployment
from memoryapp.devstack.__main__ import _use_local_secret_key

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOOD_KEY = "k3Y-" + "abcdefghij" * 5  # 54 characters, 14 different
# Variables a developer's or CI's environment may hold that would change the outcome.
CLEARED = (
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DEBUG",
    "ALLOWED_HOSTS",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
    "BEHIND_HTTPS_PROXY",
    "SECURE_COOKIES",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
)
PRODUCTION = {
    "SECRET_KEY": GOOD_KEY,
    "ALLOWED_HOSTS": "memory.example.org",
    "BEHIND_HTTPS_PROXY": "true",
}
SHOW_SETTINGS = """
import json
from django.conf import settings
names = ["SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
         "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
         "SECURE_SSL_REDIRECT", "SECURE_REDIRECT_EXEMPT"]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""


def _run(tmp_path: Path, variables: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(MEMORYAPP_VAR_DIR=str(tmp_path / "var"), **variables)
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _start(tmp_path: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The settings loaded as every process of the app loads them."""
    return _run(tmp_path, variables, "-c", "import django; django.setup()")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "collectstatic-only-not-a-secret"}, "left at the example value"),
        ({"SECRET_KEY": "Change-Me"}, "left at the example value 'Change-Me'"),
        ({"SECRET_KEY": "short-but-random-Q2x9"}, "too easy to guess (21 characters"),
        ({"SECRET_KEY": "a" * 60}, "too easy to guess (60 characters, 1 different"),
        ({"SECRET_KEY": "django-insecure-" + GOOD_KEY}, "one Django made for development"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
        ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS is empty"),
        ({"POSTGRES_PASSWORD": ""}, "POSTGRES_PASSWORD is empty, the example value"),
        ({"POSTGRES_PASSWORD": "memoryapp"}, "POSTGRES_PASSWORD is 'memoryapp'"),
        (
            {"DATABASE_URL": "postgres://memoryapp:PASSWORD@db.internal:5432/memoryapp"},
            "The password in DATABASE_URL is 'PASSWORD', an example value",
        ),
        (
            {"DATABASE_URL": "postgres://memoryapp:memoryapp@127.0.0.1:5432/memoryapp"},
            "The password in DATABASE_URL is 'memoryapp'",
        ),
    ],
)
def test_production_refuses_to_start_with_an_unsafe_setting(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    result = _start(tmp_path, {**PRODUCTION, **variables})

    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured: Refusing to start with DEBUG=false (production)" in result.stderr
    assert message in result.stderr, result.stderr


def test_a_refusal_says_how_to_make_a_key(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    result = _start(tmp_path, {**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "empty")})
    assert result.returncode != 0
    assert deployment.GENERATE_KEY_COMMAND in result.stderr
    assert "SECRET_KEY_FILE" in result.stderr


def test_every_problem_is_named_in_one_refusal(tmp_path: Path) -> None:
    result = _start(
        tmp_path, {"SECRET_KEY": "change-me", "ALLOWED_HOSTS": "", "POSTGRES_PASSWORD": ""}
    )

    assert result.returncode != 0
    refusal = result.stderr[result.stderr.index("Refusing to start") :]
    assert re.findall(r"^- (\w+)", refusal, flags=re.MULTILINE) == [
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "POSTGRES_PASSWORD",
    ]


def test_a_valid_production_environment_passes_check_deploy(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        {**PRODUCTION, "POSTGRES_PASSWORD": "9f3b1c8e0d7a6f5e4d3c2b1a0f9e8d7c"},
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (1 silenced)" in result.stdout


def test_without_the_https_proxy_check_deploy_names_what_https_would_set(
    tmp_path: Path,
) -> None:
    """Served over plain HTTP (a home network), the HTTPS warnings are true, not silenced."""
    plain = {k: v for k, v in PRODUCTION.items() if k != "BEHIND_HTTPS_PROXY"}

    result = _run(tmp_path, plain, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    found = set(re.findall(r"security\.W\d+", result.stderr))
    assert found == {"security.W004", "security.W008", "security.W012", "security.W016"}


@pytest.mark.parametrize("variables", [{"DEBUG": "true"}, {}, {"ALLOWED_HOSTS": "localhost"}])
def test_a_site_for_this_machine_only_starts_with_the_key_it_keeps_in_var(
    tmp_path: Path, variables: dict[str, str]
) -> None:
    """Debug mode, or ALLOWED_HOSTS left at localhost (`manage.py` and mypy in a checkout)."""
    first = _start(tmp_path, variables)
    key_file = tmp_path / "var" / "secret_key"
    key = key_file.read_text()
    second = _start(tmp_path, variables)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert len(key) >= 50
    assert key_file.read_text() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_devstack_hands_its_processes_the_key_kept_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SECRET_KEY", "SECRET_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEMORYAPP_VAR_DIR", str(tmp_path / "var"))

    _use_local_secret_key()

    key_file = Path(os.environ["SECRET_KEY_FILE"])
    assert key_file == tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    started = _start(tmp_path, {"SECRET_KEY_FILE": str(key_file)})
    assert started.returncode == 0, started.stderr


def test_the_devstack_leaves_a_configured_key_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)

    _use_local_secret_key()

    assert "SECRET_KEY_FILE" not in os.environ


def _show_settings(tmp_path: Path, variables: dict[str, str]) -> dict[str, Any]:
    result = _run(tmp_path, variables, "-c", f"import django; django.setup(){SHOW_SETTINGS}")
    assert result.returncode == 0, result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def test_behind_the_https_proxy_cookies_are_secure_and_hsts_is_a_year(tmp_path: Path) -> None:
    shown = _show_settings(tmp_path, PRODUCTION)

    assert shown == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_REDIRECT_EXEMPT": ["^healthz$"],
    }


def test_hsts_and_the_redirect_can_be_set(tmp_path: Path) -> None:
    shown = _show_settings(
        tmp_path,
        {**PRODUCTION, "SECURE_HSTS_SECONDS": "3600", "SECURE_SSL_REDIRECT": "false"},
    )

    assert shown["SECURE_HSTS_SECONDS"] == 3600
    assert shown["SECURE_SSL_REDIRECT"] is False


def test_without_the_proxy_nothing_claims_https(tmp_path: Path) -> None:
    shown = _show_settings(tmp_path, {"SECRET_KEY": GOOD_KEY})

    assert shown["SECURE_PROXY_SSL_HEADER"] is None
    assert shown["SESSION_COOKIE_SECURE"] is False
    assert shown["SECURE_HSTS_SECONDS"] == 0
    assert shown["SECURE_SSL_REDIRECT"] is False


BEHIND_PROXY = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_REDIRECT_EXEMPT": [r"^healthz$"],
    "ALLOWED_HOSTS": ["memory.example.org"],
}


@pytest.mark.django_db
@override_settings(**BEHIND_PROXY)
def test_behind_the_proxy_plain_http_is_sent_to_https_and_https_gets_hsts(
    client: Client,
) -> None:
    plain = client.get("/login/", headers={"host": "memory.example.org"})
    secure = client.get(
        "/login/", headers={"host": "memory.example.org", "x-forwarded-proto": "https"}
    )

    assert plain.status_code == 301
    assert plain["Location"] == "https://memory.example.org/login/"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert secure.cookies["csrftoken"]["secure"] is True


@pytest.mark.django_db
@override_settings(**BEHIND_PROXY)
def test_behind_the_proxy_healthz_answers_probes_from_inside_the_stack(client: Client) -> None:
    probe = client.get("/healthz", headers={"host": "memory.example.org"})

    assert probe.status_code != 301
    assert "Location" not in probe


def _env_example_value(name: str) -> str:
    """The value docker/.env.example gives `name`, commented out or not."""
    text = (PROJECT_DIR / "docker" / ".env.example").read_text()
    match = re.search(rf"^#?\s*{name}=(.*)$", text, flags=re.MULTILINE)
    assert match, f"{name} is not in docker/.env.example"
    return match.group(1).strip()


def test_the_placeholders_of_the_env_example_are_refused() -> None:
    """docker/.env.example's SECRET_KEY and POSTGRES_PASSWORD, copied as they are, stop a
    production start."""
    problems = deployment.production_problems(
        secret_key=_env_example_value("SECRET_KEY"),
        allowed_hosts=["localhost"],
        database={"USER": "memoryapp", "PASSWORD": _env_example_value("POSTGRES_PASSWORD")},
        postgres_password=_env_example_value("POSTGRES_PASSWORD"),
    )

    assert [problem.split()[0] for problem in problems] == ["SECRET_KEY", "POSTGRES_PASSWORD"]


def test_a_password_equal_to_the_user_name_is_refused() -> None:
    problems = deployment.production_problems(
        secret_key=GOOD_KEY,
        allowed_hosts=["localhost"],
        database={"USER": "household", "PASSWORD": "Household"},
        postgres_password=None,
    )

    assert len(problems) == 1
    assert problems[0].startswith("The password in DATABASE_URL is 'Household'")


def test_an_empty_database_password_is_left_to_the_server() -> None:
    """No password in DATABASE_URL: a local socket (peer) or ~/.pgpass provides one."""
    problems = deployment.production_problems(
        secret_key=GOOD_KEY,
        allowed_hosts=["localhost"],
        database={"USER": "memoryapp", "PASSWORD": ""},
        postgres_password=None,
    )

    assert problems == []
