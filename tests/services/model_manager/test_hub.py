"""Downloading from the hub, against a local server imitating its metadata and file
endpoints: progress, resume with a Range request, SHA-256 verification, and the errors."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from memoryapp.models import ModelDownload
from memoryapp.services.model_manager import hub as hub_service
from memoryapp.services.model_manager.files import model_files_list
from memoryapp.services.model_manager.hub import model_download_create, model_download_run
from tests.support.fake_hub import FakeHub
from tests.support.gguf_files import gguf_write

pytestmark = pytest.mark.django_db

REPO = "someone/tiny-GGUF"
FILE = "tiny-Q8_0.gguf"
# Bytes of padding: the file comes in several pieces, and progress along the way.
PADDING = 300_000


@pytest.fixture
def model_bytes(tmp_path: Path) -> bytes:
    """A valid GGUF file of several of the fake hub's 64 KB pieces (a padding tensor)."""
    path = tmp_path / "source.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Downloaded tiny model")
    writer.add_context_length(2048)
    writer.add_tensor("token_embd.weight", np.zeros((PADDING // 4,), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    assert len(data) > 4 * 65536
    return data


def _download(**kwargs: Any) -> ModelDownload:
    download, created = model_download_create(
        repo=kwargs.pop("repo", REPO),
        filename=kwargs.pop("filename", FILE),
        revision=kwargs.pop("revision", "main"),
    )
    assert created
    return model_download_run(download_id=download.pk, **kwargs)


def test_a_file_is_downloaded_verified_and_listed(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.repos[REPO] = {FILE: model_bytes, "README.md": b"hello"}
    seen: list[int] = []

    download = _download(progress=lambda row: seen.append(row.bytes_done))

    assert download.status == ModelDownload.Status.DONE, download.error
    assert (models_dir / FILE).read_bytes() == model_bytes
    assert not (models_dir / (FILE + ".part")).exists()
    assert download.sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert download.bytes_done == download.bytes_total == len(model_bytes)
    assert download.resumed_from == 0
    # Progress came along the way, growing, up to the whole file.
    assert seen == sorted(seen) and seen[-1] == len(model_bytes)
    stored = ModelDownload.objects.get(pk=download.pk)
    assert (stored.status, stored.bytes_done, stored.finished_at is not None) == (
        "done",
        len(model_bytes),
        True,
    )
    listed = next(file for file in model_files_list() if file.name == FILE)
    assert (listed.title, listed.context_length) == ("Downloaded tiny model", 2048)
    assert [request.range for request in hub.file_requests()] == [None]


def test_progress_is_written_to_the_row_while_downloading(
    models_dir: Path, hub: FakeHub, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.repos[REPO] = {FILE: model_bytes}
    hub.delay = 0.05
    monkeypatch.setattr(hub_service, "PROGRESS_SECONDS", 0.05)
    rows: list[tuple[str, int, int]] = []

    def read_row(row: ModelDownload) -> None:
        stored = ModelDownload.objects.get(pk=row.pk)
        rows.append((stored.status, stored.bytes_done, stored.bytes_total))

    _download(progress=read_row)

    assert len(rows) >= 3
    assert all(status == "running" and total == len(model_bytes) for status, _, total in rows)
    done = [bytes_done for _, bytes_done, _ in rows]
    assert done == sorted(done) and 0 < done[0] < len(model_bytes)


def test_an_interrupted_download_resumes_with_a_range_request(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.repos[REPO] = {FILE: model_bytes}
    hub.cut_after = 100_000

    first = _download()

    assert first.status == ModelDownload.Status.FAILED
    assert "connection to the hub broke" in first.error
    assert (models_dir / (FILE + ".part")).stat().st_size == 100_000
    assert not (models_dir / FILE).exists()

    hub.cut_after = None
    again, created = model_download_create(repo=REPO, filename=FILE, revision="main")
    assert created and again.pk == first.pk  # the failed download, resumed
    resumed = model_download_run(download_id=again.pk)

    assert resumed.status == ModelDownload.Status.DONE, resumed.error
    assert resumed.resumed_from == 100_000
    assert (models_dir / FILE).read_bytes() == model_bytes
    assert [request.range for request in hub.file_requests()] == [None, "bytes=100000-"]


def test_a_partial_file_left_by_a_dead_worker_is_resumed(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.repos[REPO] = {FILE: model_bytes}
    (models_dir / (FILE + ".part")).write_bytes(model_bytes[:70_000])

    download = _download()

    assert download.status == ModelDownload.Status.DONE, download.error
    assert download.resumed_from == 70_000
    assert (models_dir / FILE).read_bytes() == model_bytes
    assert hub.file_requests()[0].range == "bytes=70000-"


def test_a_failed_download_of_another_file_of_that_name_leaves_its_bytes_to_the_worker(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    """Its partial file is not deleted by the web process (whose models volume is read-only
    under Compose: deleting there was a 500) but by the worker, which starts from zero."""
    hub.repos[REPO] = {FILE: model_bytes}
    ModelDownload.objects.create(
        repo="someone-else/tiny-GGUF", filename=FILE, status=ModelDownload.Status.FAILED
    )
    part = models_dir / (FILE + ".part")
    part.write_bytes(b"another file's bytes")

    download, created = model_download_create(repo=REPO, filename=FILE, enqueue=False)

    assert created
    assert part.read_bytes() == b"another file's bytes"
    download = model_download_run(download_id=download.pk)
    assert download.status == ModelDownload.Status.DONE, download.error
    assert download.resumed_from == 0
    assert (models_dir / FILE).read_bytes() == model_bytes


def test_a_file_changed_on_the_hub_between_two_runs_is_fetched_again(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    """A resumed download whose file was replaced on the hub (another SHA-256) does not
    append the new file's bytes to the old one's."""
    hub.repos[REPO] = {FILE: model_bytes}
    download, _ = model_download_create(repo=REPO, filename=FILE, enqueue=False)
    ModelDownload.objects.filter(pk=download.pk).update(
        status=ModelDownload.Status.FAILED, sha256="0" * 64
    )
    (models_dir / (FILE + ".part")).write_bytes(b"the old file's first bytes")

    download, resumed = model_download_create(repo=REPO, filename=FILE, enqueue=False)
    download = model_download_run(download_id=download.pk)

    assert resumed
    assert download.status == ModelDownload.Status.DONE, download.error
    assert download.resumed_from == 0
    assert (models_dir / FILE).read_bytes() == model_bytes


def test_a_checksum_mismatch_fails_and_removes_the_partial_file(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.repos[REPO] = {FILE: model_bytes}
    hub.wrong_sha256 = {FILE}

    download = _download()

    assert download.status == ModelDownload.Status.FAILED
    assert "SHA-256" in download.error and "partial file was removed" in download.error
    assert hashlib.sha256(model_bytes).hexdigest() in download.error
    assert list(models_dir.iterdir()) == []


def test_a_wrong_repository_is_a_clear_error(models_dir: Path, hub: FakeHub) -> None:
    download = _download(repo="nobody/nothing-GGUF")

    assert download.status == ModelDownload.Status.FAILED
    assert download.error == (
        f"There is no repository nobody/nothing-GGUF on {hub.url} (a private one needs "
        "LLM_HUB_TOKEN)."
    )
    assert hub.file_requests() == []


def test_a_missing_file_is_a_clear_error_naming_the_files_there(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    hub.repos[REPO] = {FILE: model_bytes, "tiny-Q4_0.gguf": b"x"}

    download = _download(filename="tiny-F16.gguf")

    assert download.status == ModelDownload.Status.FAILED
    assert download.error == (
        f"{REPO} has no file tiny-F16.gguf at main. Its GGUF files: tiny-Q4_0.gguf, {FILE}."
    )


def test_the_file_endpoint_404_is_a_clear_error(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    """The metadata lists the file but its URL answers 404 (changed between the two)."""
    hub.repos[REPO] = {FILE: model_bytes}
    hub.gone = {FILE}

    download = _download()

    assert download.status == ModelDownload.Status.FAILED
    assert download.error == (f"The hub has no file at {hub.url}/{REPO}/resolve/main/{FILE} (404).")
    assert not (models_dir / (FILE + ".part")).exists()


def test_a_wrong_revision_is_a_clear_error(models_dir: Path, hub: FakeHub) -> None:
    hub.repos[REPO] = {FILE: b"x"}

    download = _download(revision="v9")

    assert download.error == f"{REPO} has no revision 'v9'."


def test_no_network_is_a_clear_error(models_dir: Path, settings: Any) -> None:
    from memoryapp.devstack.services import free_port

    settings.LLM_HUB_ENDPOINT = f"http://127.0.0.1:{free_port()}"  # nothing listens

    download = _download()

    assert download.status == ModelDownload.Status.FAILED
    assert download.error.startswith(
        f"Could not reach the model hub at {settings.LLM_HUB_ENDPOINT}"
    )


def test_not_enough_disk_space_is_a_clear_error(
    models_dir: Path, hub: FakeHub, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.repos[REPO] = {FILE: model_bytes}
    # More room to spare than any disk has: the real free space is compared with it.
    monkeypatch.setattr(hub_service, "DISK_MARGIN_BYTES", 1 << 60)

    download = _download()

    assert download.status == ModelDownload.Status.FAILED
    assert download.error.startswith(f"Not enough disk space in {models_dir}")
    assert "is free" in download.error
    assert hub.file_requests() == []


def test_the_hub_token_is_sent(
    models_dir: Path, hub: FakeHub, model_bytes: bytes, settings: Any
) -> None:
    hub.repos[REPO] = {FILE: model_bytes}
    settings.LLM_HUB_TOKEN = "hf_secret"

    assert _download().status == ModelDownload.Status.DONE
    assert {request.authorization for request in hub.requests} == {"Bearer hf_secret"}


@pytest.mark.parametrize(
    ("repo", "filename", "message"),
    [
        ("not a repo", FILE, "is not a repository id"),
        (REPO, "weights.bin", "is not a GGUF file name"),
        (REPO, "../../etc/x.gguf", "is not a GGUF file name"),
    ],
)
def test_bad_coordinates_are_refused(
    models_dir: Path, repo: str, filename: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        model_download_create(repo=repo, filename=filename)
    assert not ModelDownload.objects.exists()


def test_a_file_already_there_or_being_downloaded_is_not_downloaded_twice(
    models_dir: Path,
) -> None:
    first, created = model_download_create(repo=REPO, filename=f"q/{FILE}")
    again, created_again = model_download_create(repo=REPO, filename=f"q/{FILE}")
    assert created and not created_again and again.pk == first.pk
    with pytest.raises(ValidationError, match="being downloaded from someone/tiny-GGUF"):
        model_download_create(repo="other/repo", filename=FILE)
    gguf_write(models_dir / "there.gguf")
    with pytest.raises(ValidationError, match="in the models directory already"):
        model_download_create(repo=REPO, filename="there.gguf")


def test_a_download_running_elsewhere_is_not_run_twice(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    """A redelivered job (acks_late) finds the download running and alive: it leaves it."""
    hub.repos[REPO] = {FILE: model_bytes}
    download, _ = model_download_create(repo=REPO, filename=FILE)
    ModelDownload.objects.filter(pk=download.pk).update(status="running")

    again = model_download_run(download_id=download.pk)

    assert again.status == "running"
    assert hub.requests == []


def test_a_download_whose_worker_died_is_taken_up_again(
    models_dir: Path, hub: FakeHub, model_bytes: bytes
) -> None:
    """Asked for again, a download left running by a dead worker (its row still for
    STALE_SECONDS) is queued again and goes on from its .part file."""
    hub.repos[REPO] = {FILE: model_bytes}
    download, _ = model_download_create(repo=REPO, filename=FILE)
    long_ago = timezone.now() - timedelta(seconds=hub_service.STALE_SECONDS + 1)
    ModelDownload.objects.filter(pk=download.pk).update(status="running", updated_at=long_ago)
    (models_dir / (FILE + ".part")).write_bytes(model_bytes[:65536])

    again, created = model_download_create(repo=REPO, filename=FILE)
    finished = model_download_run(download_id=again.pk)

    assert created and again.pk == download.pk
    assert finished.status == "done" and finished.resumed_from == 65536
