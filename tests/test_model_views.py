"""The model manager page: the owner's only, the files from their metadata, choosing the
active model, queueing downloads and their progress, and errors shown, never a 500."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from memoryapp import jobs
from memoryapp.llm.models import DEMO_FILE
from memoryapp.models import LocalModel, ModelDownload
from memoryapp.services.model_manager.choice import active_choice
from tests.support.gguf_files import gguf_write

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_dir(tmp_path: Path, settings: Any) -> Path:
    settings.LLM_MODEL_DIR = tmp_path
    gguf_write(tmp_path / "tiny-Q8_0.gguf", name="Tiny", context_length=8192)
    (tmp_path / "broken.gguf").write_bytes(b"nope")
    return tmp_path


def _urls() -> list[tuple[str, str]]:
    download = ModelDownload.objects.create(repo="a/b", filename="c.gguf")
    return [
        ("get", "/models/"),
        ("post", "/models/download"),
        ("get", f"/models/downloads/{download.pk}"),
        ("post", "/models/use"),
        ("post", "/models/use-settings"),
    ]


def test_members_are_refused_everywhere(bob_client: Client, models_dir: Path) -> None:
    for method, url in _urls():
        response = getattr(bob_client, method)(
            url, {"name": "tiny-Q8_0.gguf", "gpu_layers": 0, "context_size": 2048}
        )
        assert response.status_code == 403, url
    assert not LocalModel.objects.exists()
    assert ModelDownload.objects.count() == 1


def test_anonymous_people_are_sent_to_sign_in(client: Client, models_dir: Path) -> None:
    for method, url in _urls():
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_the_page_lists_the_files_from_their_metadata(
    alice_client: Client, models_dir: Path
) -> None:
    response = alice_client.get("/models/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "tiny-Q8_0.gguf" in page and "Q8_0" in page and "8192" in page and "ChatML" in page
    assert DEMO_FILE in page and "(demo model)" in page
    assert "broken.gguf" in page and "Not a readable GGUF model file (GGUF magic invalid)." in page
    assert "No model chosen here" in page
    assert "Recommended for this machine" in page and "Qwen2.5 7B Instruct" in page


def test_the_owner_switches_the_model(alice_client: Client, models_dir: Path) -> None:
    response = alice_client.post(
        "/models/use", {"name": "tiny-Q8_0.gguf", "gpu_layers": "-1", "context_size": "4096"}
    )

    assert response.status_code == 302
    choice = active_choice()
    assert choice is not None
    assert (choice.path.name, choice.gpu_layers, choice.context_size) == (
        "tiny-Q8_0.gguf",
        -1,
        4096,
    )
    page = alice_client.get("/models/").content.decode()
    assert "tiny-Q8_0.gguf is the active model" in page
    assert "Active model: <strong>tiny-Q8_0.gguf</strong> (-1 GPU layers, context 4096" in page

    alice_client.post("/models/use-settings")
    assert active_choice() is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "broken.gguf", "gpu_layers": "0", "context_size": "2048"}, "cannot be used"),
        ({"name": "gone.gguf", "gpu_layers": "0", "context_size": "2048"}, "no model file"),
        ({"name": "tiny-Q8_0.gguf", "gpu_layers": "0", "context_size": "9000"}, "between 512"),
        ({"name": "tiny-Q8_0.gguf", "gpu_layers": "x", "context_size": "2048"}, "GPU layers"),
        ({"name": "tiny-Q8_0.gguf"}, "Context size: This field is required."),
    ],
)
def test_a_bad_switch_says_why(
    alice_client: Client, models_dir: Path, data: dict[str, str], message: str
) -> None:
    response = alice_client.post("/models/use", data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert active_choice() is None


def test_a_download_is_queued_and_its_progress_shown(
    alice_client: Client,
    models_dir: Path,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []
    # What would go to the broker (the worker's side is tested with the fake hub).
    monkeypatch.setattr(jobs, "_send", lambda name, *args: sent.append(f"{name}{args}"))
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            "/models/download",
            {"repo": "someone/x-GGUF", "filename": "x-Q4_K_M.gguf", "revision": "main"},
        )

    assert response.status_code == 302
    download = ModelDownload.objects.get()
    assert sent == [f"memory.model_download('{download.pk}',)"]
    ModelDownload.objects.filter(pk=download.pk).update(
        status="running", bytes_done=250, bytes_total=1000
    )
    partial = alice_client.get(f"/models/downloads/{download.pk}").content.decode()
    assert 'hx-trigger="every 1s"' in partial
    assert '<progress max="1000" value="250"' in partial and "(25%)" in partial
    ModelDownload.objects.filter(pk=download.pk).update(status="failed", error="No such repo.")
    partial = alice_client.get(f"/models/downloads/{download.pk}").content.decode()
    assert "No such repo." in partial and "every 1s" not in partial


def test_a_bad_download_request_says_why(alice_client: Client, models_dir: Path) -> None:
    response = alice_client.post(
        "/models/download", {"repo": "not a repo", "filename": "x.gguf", "revision": "main"}
    )

    assert response.status_code == 422
    assert "is not a repository id like" in response.content.decode()
    response = alice_client.post("/models/download", {"repo": "", "filename": ""})
    assert response.status_code == 422
    assert not ModelDownload.objects.exists()


def test_an_unknown_download_is_404(alice_client: Client, models_dir: Path) -> None:
    assert alice_client.get(f"/models/downloads/{uuid.uuid4()}").status_code == 404
