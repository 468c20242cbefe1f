"""The model manager from the command line (the /models/ page does the same):

    make manage ARGS="models list"
    make manage ARGS="models download REPO FILE [--revision REV]"
    make manage ARGS="models use FILE [--gpu-layers N] [--context N]"
    make manage ARGS="models use --settings"
    make manage ARGS="models recommend"

`download` runs here, in the foreground, printing its progress (Ctrl-C stops it; the same
command goes on from there); the page's downloads run on a memory worker.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from memoryapp.models import ModelDownload
from memoryapp.services.model_manager.choice import (
    active_choice,
    model_activate,
    model_choice_clear,
    model_settings_for,
)
from memoryapp.services.model_manager.files import model_files_list
from memoryapp.services.model_manager.hub import model_download_create, model_download_run
from memoryapp.services.model_manager.recommend import models_recommend

PROGRESS_SECONDS = 2.0


def _size(count: int) -> str:
    """Django's `filesizeformat` with a plain space (it uses a no-break space, for pages)."""
    return str(filesizeformat(count)).replace("\xa0", " ")


class Command(BaseCommand):
    help = "List, download, choose and recommend the LLM model files (GGUF)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="the model files, from their GGUF metadata")
        download = actions.add_parser("download", help="download a GGUF file from the hub")
        download.add_argument("repo", help="the hub repository, e.g. owner/name")
        download.add_argument("file", help="the GGUF file's path in the repository")
        download.add_argument("--revision", default="main", help="branch, tag or commit")
        use = actions.add_parser("use", help="make a model file the active model")
        use.add_argument("file", nargs="?", help="a file name from `models list`")
        use.add_argument("--gpu-layers", type=int, help="layers on the GPU (-1: all)")
        use.add_argument("--context", type=int, help="context size in tokens")
        use.add_argument(
            "--settings", action="store_true", help="go back to the settings' model instead"
        )
        actions.add_parser("recommend", help="models that fit this machine's memory")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list()
        elif action == "download":
            self._download(options["repo"], options["file"], options["revision"])
        elif action == "use":
            self._use(options)
        else:
            self._recommend()

    def _list(self) -> None:
        choice = active_choice()
        files = model_files_list()
        if not files:
            self.stdout.write("No model files.")
        for file in files:
            marker = "*" if choice is not None and choice.path == file.path else " "
            demo = " (demo model)" if file.is_demo else ""
            line = f"{marker} {file.name}{demo}  {_size(file.size)}"
            if file.error:
                self.stdout.write(f"{line}  ERROR: {file.error}")
                continue
            stored = model_settings_for(file.name)
            self.stdout.write(
                f"{line}  {file.quantisation or '?'}  context {file.context_length or '?'}  "
                f"template {file.chat_template or 'none'}  "
                f"(gpu layers {stored.gpu_layers}, context size {stored.context_size})"
            )
        if choice is None:
            self.stdout.write("No active model chosen: the workers load the settings' model.")
        else:
            self.stdout.write(f"* active: {choice.path.name}")

    def _download(self, repo: str, filename: str, revision: str) -> None:
        try:
            download, _ = model_download_create(
                repo=repo, filename=filename, revision=revision, enqueue=False
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        last = 0.0

        def progress(row: ModelDownload) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_SECONDS or row.bytes_done == row.bytes_total:
                last = time.monotonic()
                self.stdout.write(
                    f"{_size(row.bytes_done)} of {_size(row.bytes_total)} ({row.percent}%)"
                )

        self.stdout.write(f"Downloading {filename} from {repo} at {revision}")
        download = model_download_run(download_id=download.pk, progress=progress)
        if download.status == ModelDownload.Status.RUNNING:
            raise CommandError(f"{download.local_name} is being downloaded by a worker already.")
        if download.status != ModelDownload.Status.DONE:
            raise CommandError(download.error)
        self.stdout.write(
            self.style.SUCCESS(
                f"Downloaded {download.local_name} ({_size(download.bytes_total)}, "
                f"SHA-256 {download.sha256} verified"
                + (f", resumed at {download.resumed_from} bytes" if download.resumed_from else "")
                + ")"
            )
        )

    def _use(self, options: dict[str, Any]) -> None:
        if options["settings"]:
            model_choice_clear()
            self.stdout.write("The workers go back to the settings' model.")
            return
        if not options["file"]:
            raise CommandError("Name a file from `models list`, or give --settings.")
        try:
            row = model_activate(
                name=options["file"],
                gpu_layers=options["gpu_layers"],
                context_size=options["context"],
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{row.filename} is the active model (gpu layers {row.gpu_layers}, context size "
                f"{row.context_size}): each worker loads it before its next job."
            )
        )

    def _recommend(self) -> None:
        advice = models_recommend()
        machine = advice.machine
        gpus = ", ".join(f"{name} {_size(size)}" for name, size in machine.gpus)
        self.stdout.write(
            f"RAM {_size(machine.ram_bytes)}; GPU: {gpus or 'none that nvidia-smi sees'}"
        )
        if not advice.fitting:
            self.stdout.write("No model of the list fits; the demo model is all this can run.")
        for entry, gpu_layers in advice.fitting:
            where = "GPU (--gpu-layers -1)" if gpu_layers == -1 else "CPU"
            self.stdout.write(
                f"- {entry.name} on the {where}, {_size(entry.size_bytes)}: "
                f"{entry.quality}\n  models download {entry.repo} {entry.filename}"
            )
