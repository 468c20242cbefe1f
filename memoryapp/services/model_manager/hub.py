"""Downloading a GGUF file from a model hub (Hugging Face's API, or LLM_HUB_ENDPOINT's).

The file's size and SHA-256 come from the hub's repository metadata
(`GET /api/models/{repo}/revision/{revision}?blobs=true`, through `huggingface_hub`'s
`HfApi.model_info(files_metadata=True)`, which also turns the hub's error codes into typed
errors: no such repository, revision or file). The bytes come from the file's resolve URL
(`/{repo}/resolve/{revision}/{file}`) on the same `httpx2` session `huggingface_hub` uses, and
go into `<file>.part` in LLM_MODEL_DIR: an interrupted download goes on from there with an
HTTP Range request, the row's progress is written twice a second for the page, and the file
gets its own name only once its SHA-256 matches (else the .part file is removed).
`hf_hub_download` is not used for the bytes: it writes into its cache layout, reports
progress only to a terminal, and does not check the SHA-256 of what it received.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import httpx2
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from huggingface_hub import HfApi, constants, get_session, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils._headers import build_hf_headers
from huggingface_hub.utils._validators import validate_repo_id

from memoryapp import jobs
from memoryapp.models import ModelDownload
from memoryapp.services.model_manager.files import GGUF_SUFFIX, PART_SUFFIX

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
PROGRESS_SECONDS = 0.5
# Room left on the disk after the file, for the database and logs.
DISK_MARGIN_BYTES = 256 << 20
TIMEOUT = httpx2.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
# A running download whose row has not moved for this long belongs to a worker that died.
STALE_SECONDS = 120

Progress = Callable[[ModelDownload], None]


class DownloadFailed(Exception):
    """Why a download stopped, in words for the person."""


@dataclass(frozen=True)
class HubFile:
    url: str
    size: int
    sha256: str


def hub_endpoint() -> str:
    return (settings.LLM_HUB_ENDPOINT or constants.ENDPOINT).rstrip("/")


def model_download_create(
    *,
    repo: str,
    filename: str,
    revision: str = "main",
    requested_by: User | None = None,
    enqueue: bool = True,
) -> tuple[ModelDownload, bool]:
    """A download of `filename` of `repo` at `revision`, queued for a memory worker (unless
    `enqueue` is False: the caller runs it); an unfinished download of the same file is
    returned instead (created: False). A failed one of the same file, or one whose worker
    died, is resumed. Raises `ValidationError` for a malformed repository id or file name, or
    a file of that name already in the models directory."""
    repo, filename, revision = repo.strip(), filename.strip().lstrip("/"), revision.strip()
    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise ValidationError(f"{repo!r} is not a repository id like 'owner/name'.") from exc
    if not filename.endswith(GGUF_SUFFIX) or ".." in filename.split("/"):
        raise ValidationError(f"{filename!r} is not a GGUF file name (it must end in .gguf).")
    if not revision or len(revision) > 200:
        raise ValidationError("The revision must be a branch, tag or commit (e.g. main).")
    local_name = filename.rsplit("/", 1)[-1]
    if (Path(settings.LLM_MODEL_DIR) / local_name).exists():
        raise ValidationError(f"{local_name} is in the models directory already.")
    with transaction.atomic():
        unfinished = [
            download
            for download in ModelDownload.objects.select_for_update().exclude(
                status=ModelDownload.Status.DONE
            )
            if download.local_name == local_name
        ]
        for download in unfinished:
            same = (download.repo, download.filename, download.revision) == (
                repo,
                filename,
                revision,
            )
            if same and (download.status == ModelDownload.Status.FAILED or _stale(download)):
                # Failed, or its worker died: again from its .part file.
                download.status, download.error = ModelDownload.Status.PENDING, ""
                download.finished_at = None
                download.updated_at = timezone.now()
                download.save()
                if enqueue:
                    _enqueue_on_commit(download)
                return download, True  # resumed from its .part file
            if same:
                return download, False
            if download.status != ModelDownload.Status.FAILED:
                raise ValidationError(
                    f"{local_name} is being downloaded from {download.repo} already."
                )
        # A failed download of another file of that name may have left its bytes in the
        # .part file: the worker starts again from zero (`_part_is_another_files`). Never
        # deleted here: the web process may only read the models directory.
        download = ModelDownload.objects.create(
            repo=repo, filename=filename, revision=revision, requested_by=requested_by
        )
        if enqueue:
            _enqueue_on_commit(download)
    return download, True


def _stale(download: ModelDownload) -> bool:
    """Running, but its row has not moved for STALE_SECONDS: its worker died."""
    stale = timezone.now() - timedelta(seconds=STALE_SECONDS)
    return download.status == ModelDownload.Status.RUNNING and download.updated_at < stale


def _enqueue_on_commit(download: ModelDownload) -> None:
    transaction.on_commit(lambda: jobs.model_download_enqueue(download_id=download.pk))


def model_download_run(*, download_id: UUID, progress: Progress | None = None) -> ModelDownload:
    """Run the download: claim it (pending, or running without a sign of life for
    STALE_SECONDS), fetch the rest of its bytes, verify, move into place. Every failure ends
    as a `failed` row whose `error` says what happened; a claimed download never raises."""
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_SECONDS)
    claimed = (
        ModelDownload.objects.filter(pk=download_id)
        .filter(
            status__in=[ModelDownload.Status.PENDING, ModelDownload.Status.RUNNING],
        )
        .exclude(status=ModelDownload.Status.RUNNING, updated_at__gt=stale)
        .update(status=ModelDownload.Status.RUNNING, updated_at=now, error="")
    )
    download = ModelDownload.objects.get(pk=download_id)
    if not claimed:
        logger.info("download %s is %s: not run again", download_id, download.status)
        return download
    try:
        _download(download, progress)
    except KeyboardInterrupt:
        _finish(
            download,
            ModelDownload.Status.FAILED,
            error="Interrupted: download again to go on from where it stopped.",
        )
        raise
    except DownloadFailed as exc:
        logger.warning("download of %s failed: %s", download, exc)
        _finish(download, ModelDownload.Status.FAILED, error=str(exc))
    except Exception as exc:  # anything else is a bug, shown to the person all the same
        logger.exception("download of %s failed", download)
        _finish(download, ModelDownload.Status.FAILED, error=f"The download failed: {exc!r}")
    else:
        _finish(download, ModelDownload.Status.DONE)
    return download


def _finish(download: ModelDownload, status: str, *, error: str = "") -> None:
    download.status, download.error = status, error
    download.finished_at = download.updated_at = timezone.now()
    download.save(
        update_fields=["status", "error", "finished_at", "updated_at", "bytes_done", "resumed_from"]
    )


def hub_file(*, repo: str, filename: str, revision: str) -> HubFile:
    """The file's URL, size and SHA-256 from the hub's metadata; `DownloadFailed` with the
    reason when the repository, revision or file is not there or the hub cannot be reached."""
    endpoint = hub_endpoint()
    api = HfApi(endpoint=endpoint, token=settings.LLM_HUB_TOKEN or None)
    try:
        info = api.model_info(repo, revision=revision, files_metadata=True, timeout=30)
    except GatedRepoError as exc:
        raise DownloadFailed(
            f"{repo} is gated: accept its terms on the hub and set LLM_HUB_TOKEN."
        ) from exc
    except RevisionNotFoundError as exc:
        raise DownloadFailed(f"{repo} has no revision {revision!r}.") from exc
    except RepositoryNotFoundError as exc:
        raise DownloadFailed(
            f"There is no repository {repo} on {endpoint} (a private one needs LLM_HUB_TOKEN)."
        ) from exc
    except HfHubHTTPError as exc:
        raise DownloadFailed(f"The hub at {endpoint} refused: {_first_line(exc)}") from exc
    except (httpx2.HTTPError, OSError) as exc:
        raise DownloadFailed(f"Could not reach the model hub at {endpoint}: {exc}") from exc
    siblings = info.siblings or []
    sibling = next((s for s in siblings if s.rfilename == filename), None)
    if sibling is None:
        ggufs = sorted(s.rfilename for s in siblings if s.rfilename.endswith(GGUF_SUFFIX))
        available = f" Its GGUF files: {', '.join(ggufs[:12])}." if ggufs else ""
        raise DownloadFailed(f"{repo} has no file {filename} at {revision}.{available}")
    if sibling.lfs is None or not sibling.lfs.sha256:
        raise DownloadFailed(
            f"The hub gives no SHA-256 for {filename} (not stored with LFS), so it could not be "
            "verified; it was not downloaded."
        )
    url = hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
    return HubFile(url=url, size=sibling.lfs.size, sha256=sibling.lfs.sha256.lower())


def _download(download: ModelDownload, progress: Progress | None) -> None:
    directory = Path(settings.LLM_MODEL_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    part = directory / (download.local_name + PART_SUFFIX)
    target = directory / download.local_name
    remote = hub_file(repo=download.repo, filename=download.filename, revision=download.revision)
    if _part_is_another_files(download, remote):
        part.unlink(missing_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > remote.size:  # not the same file: start again
        part.unlink()
        have = 0
    download.sha256, download.bytes_total = remote.sha256, remote.size
    download.bytes_done = download.resumed_from = have
    download.save(update_fields=["sha256", "bytes_total", "bytes_done", "resumed_from"])
    free = shutil.disk_usage(directory).free
    needed = remote.size - have + DISK_MARGIN_BYTES
    if free < needed:
        raise DownloadFailed(
            f"Not enough disk space in {directory}: the file needs {_size(remote.size - have)} "
            f"more (and {_size(DISK_MARGIN_BYTES)} to spare), {_size(free)} is free."
        )
    digest = hashlib.sha256()
    if have:
        with part.open("rb") as existing:
            while chunk := existing.read(CHUNK_BYTES):
                digest.update(chunk)
    if have < remote.size:
        digest = _fetch(download, remote, part, digest, progress)
    if digest.hexdigest() != remote.sha256:
        part.unlink(missing_ok=True)
        raise DownloadFailed(
            f"The downloaded file's SHA-256 is {digest.hexdigest()}, the hub says "
            f"{remote.sha256}: it was damaged on the way (the partial file was removed; "
            "download it again)."
        )
    part.replace(target)


def _part_is_another_files(download: ModelDownload, remote: HubFile) -> bool:
    """Whether the .part file's bytes may belong to another file than `remote`: the file
    changed on the hub since this download's last run, or this download never ran and a
    failed download of another repository, file or revision had the same name."""
    if download.sha256:
        return download.sha256 != remote.sha256
    source = (download.repo, download.filename, download.revision)
    failed = ModelDownload.objects.filter(status=ModelDownload.Status.FAILED).exclude(
        pk=download.pk
    )
    return any(
        other.local_name == download.local_name
        and (other.repo, other.filename, other.revision) != source
        for other in failed
    )


def _fetch(
    download: ModelDownload,
    remote: HubFile,
    part: Path,
    digest: hashlib._Hash,
    progress: Progress | None,
) -> hashlib._Hash:
    """Append the rest of the file to `part`, updating `digest` (of the bytes in `part`) and
    the row's progress; returns the digest of the whole file."""
    have = download.bytes_done
    headers = build_hf_headers(token=settings.LLM_HUB_TOKEN or None)
    headers["Accept-Encoding"] = "identity"
    if have:
        headers["Range"] = f"bytes={have}-"
    reported = time.monotonic()
    try:
        with get_session().stream("GET", remote.url, headers=headers, timeout=TIMEOUT) as reply:
            if reply.status_code == 404:
                raise DownloadFailed(f"The hub has no file at {remote.url} (404).")
            if reply.status_code >= 400:
                raise DownloadFailed(f"The hub answered {reply.status_code} for {remote.url}.")
            mode = "ab"
            if have and reply.status_code != 206:  # the server ignored the Range: start over
                have = download.bytes_done = download.resumed_from = 0
                digest = hashlib.sha256()
                mode = "wb"
            with part.open(mode) as out:
                for chunk in reply.iter_bytes():  # as they arrive, to count them at once
                    out.write(chunk)
                    digest.update(chunk)
                    download.bytes_done += len(chunk)
                    if time.monotonic() - reported >= PROGRESS_SECONDS:
                        reported = time.monotonic()
                        _report(download, progress)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadFailed(
                f"The disk filled up after {_size(download.bytes_done)}: free some space and "
                "download again (it goes on from there)."
            ) from exc
        raise DownloadFailed(f"Writing {part} failed: {exc}") from exc
    except httpx2.HTTPError as exc:
        _report(download, progress)
        raise DownloadFailed(
            f"The connection to the hub broke after {_size(download.bytes_done)} ({exc}); "
            "download again to go on from there."
        ) from exc
    _report(download, progress)
    return digest


def _report(download: ModelDownload, progress: Progress | None) -> None:
    download.updated_at = timezone.now()
    ModelDownload.objects.filter(pk=download.pk).update(
        bytes_done=download.bytes_done, updated_at=download.updated_at
    )
    if progress is not None:
        progress(download)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{count} bytes"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
