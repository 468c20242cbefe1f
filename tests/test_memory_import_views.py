"""Importing on the Memory page: an upload becomes a background job whose progress the page
polls until it is done or failed; only its owner sees it; a malformed, wrong or oversized
file says why and changes nothing; the same file twice adds nothing."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.test.client import MULTIPART_CONTENT
from django.utils import timezone

from memoryapp.models import Conversation, ImportJob, JobStatus, Message
from memoryapp.services.memory.export import memory_export
from memoryapp.services.memory.forget import ForgetTarget, memory_forget
from memoryapp.tasks import import_history
from tests import factories
from tests.support.household import PersonData

pytestmark = pytest.mark.django_db

URL = "/memory/import"
FIXTURE = Path(__file__).parent / "services" / "memory" / "fixtures" / "chatgpt_conversations.json"
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def import_dir(settings: Any, tmp_path: Path) -> Path:
    settings.IMPORT_DIR = tmp_path / "imports"
    path: Path = settings.IMPORT_DIR
    return path


def _upload(
    client: Client, content: bytes, *, name: str = "conversations.json", **fields: Any
) -> Any:
    file = io.BytesIO(content)
    file.name = name
    data = {"format": "chatgpt", "file": file, **fields}
    return client.post(URL, data, headers=HTMX)


def _run(job: ImportJob) -> ImportJob:
    import_history.apply(args=(str(job.pk),))
    job.refresh_from_db()
    return job


def _status(client: Client, job: ImportJob) -> str:
    response = client.get(f"/memory/imports/{job.pk}", headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_anonymous_is_sent_to_sign_in(client: Client, alice: User) -> None:
    job = ImportJob.objects.create(owner=alice, format="chatgpt", filename="x.json", sha256="0")

    for response in (
        client.get(URL),
        client.post(URL, {"format": "chatgpt"}),
        client.get(f"/memory/imports/{job.pk}"),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_the_memory_page_loads_the_import_section(alice_client: Client) -> None:
    page = alice_client.get("/memory/").content.decode()
    assert f'hx-get="{URL}" hx-trigger="load"' in page

    section = alice_client.get(URL, headers=HTMX).content.decode()

    assert section.lstrip().startswith('<section id="import-section"')
    assert 'type="file"' in section and 'value="chatgpt"' in section
    assert "<html" not in section
    assert "<html" in alice_client.get(URL).content.decode()  # without htmx: a page


def test_an_upload_becomes_a_job_whose_progress_is_polled_until_done(
    alice: User, alice_client: Client, import_dir: Path
) -> None:
    content = FIXTURE.read_bytes()

    response = _upload(alice_client, content)

    assert response.status_code == 200
    job = ImportJob.objects.get(owner=alice)
    assert (job.format, job.filename, job.job_status) == (
        "chatgpt",
        "conversations.json",
        "pending",
    )
    assert (job.sha256, job.size) == (hashlib.sha256(content).hexdigest(), len(content))
    upload = Path(job.upload_path)
    assert upload == import_dir / str(job.pk)
    assert upload.read_bytes() == content
    assert stat.S_IMODE(upload.stat().st_mode) == 0o600
    html = response.content.decode()
    assert "Importing conversations.json" in html
    assert f'hx-get="/memory/imports/{job.pk}" hx-trigger="every 1s"' in html
    assert "Waiting for the memory worker" in html

    ImportJob.objects.filter(pk=job.pk).update(job_status=JobStatus.RUNNING, total=2, done=1)
    running = _status(alice_client, job)
    assert 'hx-trigger="every 1s"' in running
    assert '<progress max="2" value="1"' in running and "1 of 2 conversations" in running

    ImportJob.objects.filter(pk=job.pk).update(job_status=JobStatus.PENDING)
    assert _run(job).job_status == JobStatus.DONE

    done = _status(alice_client, job)
    assert "hx-trigger" not in done  # the polling stops
    assert "Imported 2 conversations (8 messages)" in done
    assert (job.total, job.done) == (2, 2)
    assert job.finished_at is not None
    assert not upload.exists()
    assert Conversation.objects.filter(owner=alice).count() == 2


def test_the_same_file_twice_adds_nothing(alice: User, alice_client: Client) -> None:
    content = FIXTURE.read_bytes()
    _upload(alice_client, content)
    job = ImportJob.objects.get(owner=alice)

    while_pending = _upload(alice_client, content, name="again.json").content.decode()
    assert "This file is being imported (conversations.json): nothing more was done." in (
        while_pending
    )
    _run(job)
    messages = Message.objects.filter(owner=alice).count()

    after = _upload(alice_client, content).content.decode()
    assert "This file was imported already (conversations.json)" in after
    assert ImportJob.objects.filter(owner=alice).count() == 1
    assert Message.objects.filter(owner=alice).count() == messages

    # The same conversations in another file (the .zip) are skipped by their ChatGPT ids.
    _upload(alice_client, _zip({"conversations.json": content}), name="export.zip")
    zipped = ImportJob.objects.get(owner=alice, filename="export.zip")
    assert _run(zipped).result["skipped"] == 2
    assert Message.objects.filter(owner=alice).count() == messages
    assert "2 imported before were left as they were" in _status(alice_client, zipped)


def test_a_job_is_its_owners_alone(
    alice: User, alice_client: Client, bob_client: Client, client: Client
) -> None:
    _upload(alice_client, FIXTURE.read_bytes(), name="alices-chats.json")
    job = ImportJob.objects.get(owner=alice)

    assert bob_client.get(f"/memory/imports/{job.pk}", headers=HTMX).status_code == 404
    assert client.get(f"/memory/imports/{job.pk}").status_code == 302
    bobs_section = bob_client.get(URL, headers=HTMX).content.decode()
    assert "alices-chats.json" not in bobs_section and str(job.pk) not in bobs_section
    alices_section = alice_client.get(URL, headers=HTMX).content.decode()
    assert "alices-chats.json" in alices_section and f'id="import-job-{job.pk}"' in alices_section


def test_a_file_of_the_same_digest_from_someone_else_is_their_own_import(
    alice: User, bob: User, alice_client: Client, bob_client: Client
) -> None:
    content = FIXTURE.read_bytes()
    _upload(alice_client, content)
    _run(ImportJob.objects.get(owner=alice))

    _upload(bob_client, content)
    bobs = _run(ImportJob.objects.get(owner=bob))

    assert bobs.result["conversations"] == 2
    assert Conversation.objects.filter(owner=bob).count() == 2


def _failed(client: Client, owner: User, content: bytes, name: str, said: str) -> None:
    response = _upload(client, content, name=name)
    assert response.status_code == 200
    job = _run(ImportJob.objects.get(owner=owner, filename=name))

    assert job.job_status == JobStatus.FAILED
    html = _status(client, job)
    assert "hx-trigger" not in html
    assert said in html
    assert not Path(job.upload_path).exists()
    assert not Conversation.objects.filter(owner=owner).exists()


def test_truncated_json_fails_with_the_reason(alice: User, alice_client: Client) -> None:
    _failed(
        alice_client,
        alice,
        FIXTURE.read_bytes()[:3000],
        "conversations.json",
        "is not valid JSON (it ends too early: is the file truncated?",
    )


def test_a_zip_without_conversations_json_fails_with_the_reason(
    alice: User, alice_client: Client
) -> None:
    _failed(
        alice_client,
        alice,
        _zip({"chat.html": b"<html></html>"}),
        "export.zip",
        "The .zip has no conversations.json",
    )


def test_a_file_of_the_other_format_fails_with_the_reason(
    alice: User, alice_client: Client
) -> None:
    document = json.dumps(memory_export(owner=factories.user("carol"))).encode()
    _failed(
        alice_client,
        alice,
        document,
        "memory.json",
        "This is a memoryapp export, not a ChatGPT one",
    )


def test_a_file_over_the_limit_is_refused_before_it_is_stored(
    alice: User, alice_client: Client, import_dir: Path, tmp_path: Path
) -> None:
    big = tmp_path / "conversations.json"
    with big.open("wb") as sparse:
        sparse.truncate(200 * 1024 * 1024)

    with big.open("rb") as file:
        response = alice_client.post(URL, {"format": "chatgpt", "file": file}, headers=HTMX)

    assert response.status_code == 422
    html = response.content.decode()
    assert "The file is 200 MB; the largest import accepted is 128 MB" in html
    assert not ImportJob.objects.exists()
    assert not import_dir.exists() or not any(import_dir.iterdir())


def test_a_form_without_a_file_or_with_an_unknown_format_is_refused(
    alice_client: Client,
) -> None:
    no_file = alice_client.post(URL, {"format": "chatgpt"}, headers=HTMX)
    file = io.BytesIO(b"[]")
    file.name = "x.json"
    unknown = alice_client.post(URL, {"format": "mbox", "file": file}, headers=HTMX)

    assert (no_file.status_code, unknown.status_code) == (422, 422)
    assert "This field is required." in no_file.content.decode()
    assert "Select a valid choice" in unknown.content.decode()
    assert not ImportJob.objects.exists()


def test_the_form_is_protected_against_cross_site_posts(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    file = io.BytesIO(FIXTURE.read_bytes())
    file.name = "conversations.json"

    response = client.post(URL, {"format": "chatgpt", "file": file}, content_type=MULTIPART_CONTENT)

    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_a_memoryapp_export_is_restored_into_an_empty_account(
    alice: User, alices: PersonData, bob: User, bob_client: Client
) -> None:
    document = memory_export(owner=alice)
    _upload(bob_client, json.dumps(document).encode(), name="memory.json", format="memoryapp")

    job = _run(ImportJob.objects.get(owner=bob))

    assert job.job_status == JobStatus.DONE
    assert "Restored 1 conversation, 2 messages, 1 topic and 2 facts." in _status(bob_client, job)
    [conversation] = Conversation.objects.filter(owner=bob)
    assert conversation.title == alices.conversation.title


def test_a_memoryapp_export_into_an_account_with_history_needs_merge(
    alice: User, alices: PersonData, alice_client: Client
) -> None:
    document = json.dumps(memory_export(owner=factories.user("carol"))).encode()

    refused = _upload(alice_client, document, name="memory.json", format="memoryapp")

    assert refused.status_code == 422
    assert "tick “add to the memory I have”" in refused.content.decode()
    assert not ImportJob.objects.exists()

    merged = _upload(alice_client, document, name="memory.json", format="memoryapp", merge="on")
    assert merged.status_code == 200
    job = _run(ImportJob.objects.get(owner=alice))
    assert (job.job_status, job.result["merge"]) == (JobStatus.DONE, True)


def test_without_htmx_the_upload_redirects_to_the_import_page(
    alice: User, alice_client: Client
) -> None:
    file = io.BytesIO(FIXTURE.read_bytes())
    file.name = "conversations.json"

    response = alice_client.post(URL, {"format": "chatgpt", "file": file}, follow=True)

    assert response.redirect_chain == [(URL, 302)]
    html = response.content.decode()
    assert "Importing conversations.json: its progress is below." in html
    assert ImportJob.objects.filter(owner=alice, created_at__lte=timezone.now()).count() == 1


def test_after_forgetting_everything_the_same_file_can_be_imported_again(
    alice: User, alice_client: Client
) -> None:
    content = FIXTURE.read_bytes()
    _upload(alice_client, content)
    _run(ImportJob.objects.get(owner=alice))
    messages = Message.objects.filter(owner=alice).count()
    memory_forget(owner=alice, target=ForgetTarget("all"))
    assert not Message.objects.filter(owner=alice).exists()

    again = _upload(alice_client, content).content.decode()

    assert "Importing conversations.json" in again
    _run(ImportJob.objects.get(owner=alice, job_status=JobStatus.PENDING))
    assert Message.objects.filter(owner=alice).count() == messages
