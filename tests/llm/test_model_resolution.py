"""Where the model file comes from: a path, the hub (a local fake here), or the demo."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError
from pytest_django.fixtures import Settings

from memoryapp.llm import LLM, ModelDownloadError, ModelNotFound
from memoryapp.llm.models import DEMO_FILE, describe_model, resolve_model

REPO = "acme/tiny-model"
FILENAME = "tiny.Q4.gguf"
CONTENT = b"GGUF fake model bytes " * 100
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    """Imitates the hub's `/{repo}/resolve/{revision}/{filename}` endpoint."""

    url: str
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def downloads(self) -> int:
        return sum(1 for method, _path, _auth in self.requests if method == "GET")


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub(url="")
    files = {f"/{REPO}/resolve/main/{FILENAME}": CONTENT}

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def _answer(self, *, with_body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Authorization")))
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hub_settings(settings: Settings, tmp_path: Path, fake_hub: FakeHub) -> Settings:
    settings.LLM_MODEL_PATH = ""
    settings.LLM_MODEL_REPO = REPO
    settings.LLM_MODEL_FILE = FILENAME
    settings.LLM_MODEL_REVISION = "main"
    settings.LLM_MODEL_DIR = tmp_path / "models"
    settings.LLM_HUB_ENDPOINT = fake_hub.url
    settings.LLM_HUB_TOKEN = "hub-token"
    return settings


def test_a_configured_path_is_used(settings: Settings, tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    settings.LLM_MODEL_PATH = str(model)

    assert resolve_model() == (model, "path")


def test_a_missing_path_is_a_permanent_model_not_found(settings: Settings, tmp_path: Path) -> None:
    settings.LLM_MODEL_PATH = str(tmp_path / "absent.gguf")

    with pytest.raises(ModelNotFound) as raised:
        resolve_model()

    assert raised.value.retryable is False
    assert "absent.gguf" in str(raised.value)
    assert "LLM_MODEL_PATH" in str(raised.value)


def test_a_hub_file_is_downloaded_once_into_the_model_dir(
    hub_settings: Settings, fake_hub: FakeHub
) -> None:
    path, source = resolve_model()
    again, _ = resolve_model()

    assert source == "hub"
    assert path.read_bytes() == CONTENT
    assert path.resolve().is_relative_to(hub_settings.LLM_MODEL_DIR.resolve())
    assert again == path
    assert fake_hub.downloads() == 1
    assert {auth for _method, _path, auth in fake_hub.requests} == {"Bearer hub-token"}


def test_a_downloaded_hub_file_is_found_without_the_network(
    hub_settings: Settings, fake_hub: FakeHub
) -> None:
    path, _ = resolve_model()
    requests = len(fake_hub.requests)
    hub_settings.LLM_HUB_ENDPOINT = "http://127.0.0.1:9"  # nothing listens there

    assert resolve_model() == (path, "hub")
    assert describe_model().path == path
    assert len(fake_hub.requests) == requests


def test_a_file_missing_on_the_hub_is_model_not_found(hub_settings: Settings) -> None:
    hub_settings.LLM_MODEL_FILE = "other.gguf"

    with pytest.raises(ModelNotFound, match=r"other\.gguf"):
        resolve_model()


@pytest.mark.parametrize(
    "failure",
    [LocalEntryNotFoundError("hub unreachable"), ConnectionError("connection reset")],
)
def test_a_network_failure_is_a_retryable_download_error(
    hub_settings: Settings, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    # Simulated: huggingface_hub itself retries an unreachable hub with backoff for ~20 s.
    def fail(*args: object, **kwargs: object) -> str:
        raise failure

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)

    with pytest.raises(ModelDownloadError) as raised:
        resolve_model()

    assert raised.value.retryable is True


def test_repo_and_file_must_be_set_together(settings: Settings) -> None:
    settings.LLM_MODEL_PATH = ""
    settings.LLM_MODEL_REPO = REPO
    settings.LLM_MODEL_FILE = ""

    with pytest.raises(ModelNotFound, match="LLM_MODEL_FILE"):
        resolve_model()


def test_status_of_a_hub_model_not_downloaded_yet_makes_no_request(
    hub_settings: Settings, fake_hub: FakeHub
) -> None:
    status = LLM().status()

    assert (status["source"], status["model"], status["path"]) == ("hub", FILENAME, None)
    assert fake_hub.requests == []


def test_without_configuration_the_demo_model_is_used_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.LLM_MODEL_PATH = ""
    settings.LLM_MODEL_REPO = ""
    settings.LLM_MODEL_FILE = ""

    with caplog.at_level(logging.WARNING, logger="memoryapp.llm.models"):
        path, source = resolve_model()

    assert source == "demo"
    assert path.name == DEMO_FILE
    assert path.is_file()
    assert "135M" in caplog.text
    assert "LLM_MODEL_PATH" in caplog.text
    assert "LLM_MODEL_REPO" in caplog.text
