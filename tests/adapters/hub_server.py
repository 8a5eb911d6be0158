"""A stand-in for the Hugging Face Hub's file API, on loopback.

It answers `HEAD`/`GET /{repo}/resolve/{revision}/{file}` as the hub does: the
bytes with `X-Repo-Commit`, `ETag` and `Content-Length`; a missing repo is 401
`X-Error-Code: RepoNotFound`, a gated one 403 `GatedRepo` (200 with the right
token), a missing file 404 `EntryNotFound`. Requests are recorded (the tests
check the token went only where it should)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Repo:
    files: dict[str, bytes]
    gated_token: str | None = None  # only this bearer token may read it


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    url: str = ""


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _error(self, status: int, code: str) -> None:
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _answer(self, body: bool) -> None:
            auth = self.headers.get("authorization")
            hub.seen.append((self.command, self.path, auth))
            repo_id, sep, rest = self.path.lstrip("/").partition("/resolve/")
            if not sep:
                return self._error(404, "EntryNotFound")
            revision, _, name = rest.partition("/")
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(401, "RepoNotFound")
            if repo.gated_token is not None and auth != f"Bearer {repo.gated_token}":
                return self._error(403, "GatedRepo")
            if revision not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound")
            data = repo.files.get(name)
            if data is None:
                return self._error(404, "EntryNotFound")
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@contextmanager
def running_hub() -> Iterator[Hub]:
    hub = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
