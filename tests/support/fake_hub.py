"""A local HTTP server that imitates the Hugging Face hub's two endpoints the model manager
uses, on 127.0.0.1:

- `GET /api/models/{repo}/revision/{revision}?blobs=true`: the repository's metadata, each
  file with its size and LFS SHA-256; 404 with the hub's `X-Error-Code` (`RepoNotFound`,
  `RevisionNotFound`) as the hub answers;
- `GET /{repo}/resolve/{revision}/{file}`: the file's bytes, honouring `Range: bytes=N-`
  with a 206; 404 with `X-Error-Code: EntryNotFound` for a file that is not there.

Every request is recorded (path, Range header). `delay` slows each 64 KB piece of a file
(for a progress bar to show), `cut_after` closes the connection after that many bytes of a
file (an interrupted download), `wrong_sha256` makes the metadata lie about a file, and a
file in `gone` is listed but answers 404.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

PIECE = 64 * 1024
METADATA = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<revision>[^/]+)$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


@dataclass
class Request:
    path: str
    range: str | None
    authorization: str | None


@dataclass
class FakeHub:
    """`repos` maps "owner/name" to {file path: bytes}; every repository has the revisions
    in `revisions`."""

    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    revisions: tuple[str, ...] = ("main",)
    delay: float = 0.0
    cut_after: int | None = None
    wrong_sha256: set[str] = field(default_factory=set)
    # Files the metadata lists but whose URL answers 404.
    gone: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sha256(self, repo: str, path: str) -> str:
        if path in self.wrong_sha256:
            return hashlib.sha256(b"not these bytes").hexdigest()
        return hashlib.sha256(self.repos[repo][path]).hexdigest()

    def file_requests(self) -> list[Request]:
        return [request for request in self.requests if "/resolve/" in request.path]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(
                Request(path, self.headers.get("Range"), self.headers.get("Authorization"))
            )
            if match := METADATA.match(path):
                self._metadata(match["repo"], match["revision"])
            elif match := RESOLVE.match(path):
                self._file(match["repo"], match["revision"], match["file"])
            else:
                self._error(404, "")

        def _error(self, status: int, code: str) -> None:
            body = json.dumps({"error": code or "Not found"}).encode()
            self.send_response(status)
            if code:
                self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _known(self, repo: str, revision: str) -> bool:
            if repo not in hub.repos:
                # The hub answers 401 without a token, 404 with one; both say RepoNotFound.
                self._error(404, "RepoNotFound")
                return False
            if revision not in hub.revisions:
                self._error(404, "RevisionNotFound")
                return False
            return True

        def _metadata(self, repo: str, revision: str) -> None:
            if not self._known(repo, revision):
                return
            files = hub.repos[repo]
            body = json.dumps(
                {
                    "id": repo,
                    "modelId": repo,
                    "sha": hashlib.sha1(repo.encode()).hexdigest(),  # noqa: S324 (a fake commit id)
                    "private": False,
                    "siblings": [
                        {
                            "rfilename": name,
                            "size": len(data),
                            "blobId": hashlib.sha1(data).hexdigest(),  # noqa: S324
                            "lfs": {
                                "sha256": hub.sha256(repo, name),
                                "size": len(data),
                                "pointerSize": 135,
                            },
                        }
                        for name, data in files.items()
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _file(self, repo: str, revision: str, name: str) -> None:
            if not self._known(repo, revision):
                return
            data = hub.repos[repo].get(name)
            if data is None or name in hub.gone:
                self._error(404, "EntryNotFound")
                return
            start = 0
            requested = self.headers.get("Range")
            if requested and (match := re.fullmatch(r"bytes=(\d+)-", requested)):
                start = int(match[1])
            if start >= len(data) and start:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            sent = 0
            for offset in range(start, len(data), PIECE):
                piece = data[offset : offset + PIECE]
                if hub.cut_after is not None and sent + len(piece) > hub.cut_after:
                    self.wfile.write(piece[: hub.cut_after - sent])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(piece)
                sent += len(piece)
                if hub.delay:
                    time.sleep(hub.delay)

    return Handler
