"""The model manager's rows: the settings of each local model file (one of them the active
model the workers load), and the downloads from a model hub."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class LocalModel(models.Model):
    """A GGUF file of the models directory (or the demo model) with how to load it. At most
    one row is active: the model every chat and memory worker loads before its next job.
    No active row: the model the settings name (LLM_MODEL_PATH, LLM_MODEL_REPO, the demo)."""

    # The file's name in LLM_MODEL_DIR (the demo model's own name when it is the demo's).
    filename = models.CharField(max_length=255, unique=True)
    # llama.cpp's n_gpu_layers: 0 on the CPU only, -1 every layer.
    gpu_layers = models.IntegerField(default=0)
    # Tokens of context the workers give the model (llama.cpp's n_ctx).
    context_size = models.PositiveIntegerField(default=4096)
    active = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="one_active_local_model"
            )
        ]

    def __str__(self) -> str:
        return self.filename


class ModelDownload(models.Model):
    """A file downloaded from a model hub into LLM_MODEL_DIR by a memory worker, with its
    progress; the bytes received so far wait in `<filename>.part` until verified."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    repo = models.CharField(max_length=200)
    filename = models.CharField(max_length=500)  # the path of the file in the repository
    revision = models.CharField(max_length=200, default="main")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    bytes_done = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    # The hub's SHA-256 of the file (its LFS object id), verified once every byte is here.
    sha256 = models.CharField(max_length=64, blank=True)
    # Bytes that were already in the .part file when the download (re)started.
    resumed_from = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.repo}/{self.filename}@{self.revision}"

    @property
    def local_name(self) -> str:
        """The file's name in LLM_MODEL_DIR: its last path component in the repository."""
        return self.filename.rsplit("/", 1)[-1]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if not self.bytes_total:
            return 0
        return min(100, self.bytes_done * 100 // self.bytes_total)
