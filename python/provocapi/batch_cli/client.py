"""A small client for OpenAI's files and batches HTTP API, on the standard library.

The `openai` package is not a runtime dependency; these few calls do not need it. Uploads
and downloads stream in chunks, so a 200 MB input file is never held in memory."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"
CHUNK = 64 * 1024
TIMEOUT_S = 60.0


class ApiFailure(Exception):
    """The server answered an error: its OpenAI envelope's message, status and code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def __str__(self) -> str:
        code = f", {self.code}" if self.code else ""
        return f"{self.message} (HTTP {self.status}{code})"


class Unreachable(Exception):
    """No HTTP answer at all: refused, reset, timed out, bad address."""


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: str


def settings(base_url: str | None, api_key: str | None) -> Settings:
    """Flags first, then OPENAI_BASE_URL / OPENAI_API_KEY as the SDKs read them."""
    url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    key = api_key or os.environ.get("OPENAI_API_KEY") or ""
    return Settings(url.rstrip("/"), key)


def _error_of(status: int, data: bytes) -> ApiFailure:
    try:
        err = json.loads(data)["error"]
        return ApiFailure(status, str(err.get("message") or "(no message)"), err.get("code"))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = data.decode(errors="replace").strip()[:300]
        return ApiFailure(status, text or http.client.responses.get(status, "error"))


class BatchApi:
    def __init__(self, s: Settings) -> None:
        parts = urlsplit(s.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port]/path, not {s.base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._key = s.api_key

    # transport

    def _conn(self) -> http.client.HTTPConnection:
        if self._https:
            ctx = ssl.create_default_context()
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=TIMEOUT_S, context=ctx
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT_S)

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._conn()
        h = {"authorization": f"Bearer {self._key}", "accept": "application/json"}
        h.update(headers or {})
        try:
            try:
                conn.request(method, self._prefix + path, body=body, headers=h)
            except OSError:
                early = _early_answer(conn)
                if early is None:
                    raise
                resp = early
            else:
                resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise Unreachable(f"{method} {self._prefix + path}: {e}") from e
        if resp.status >= 400:
            data = resp.read()
            conn.close()
            raise _error_of(resp.status, data)
        return conn, resp

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"content-type": "application/json"} if body is not None else {}
        conn, resp = self._send(method, path, body, headers)
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise Unreachable(f"{method} {path}: {e}") from e
        finally:
            conn.close()
        try:
            return json.loads(data)
        except ValueError as e:
            raise ApiFailure(resp.status, f"answer is not JSON: {data[:200]!r}") from e

    # the API

    def upload(self, path: Path, purpose: str = "batch") -> dict[str, Any]:
        """POST /files, multipart: the file streamed from disk with a known length."""
        boundary = "provocapi-" + secrets.token_hex(12)
        name = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = (
            f'--{boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\n'
            f"{purpose}\r\n"
            f'--{boundary}\r\ncontent-disposition: form-data; name="file"; filename="{name}"\r\n'
            "content-type: application/jsonl\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = path.stat().st_size

        def parts() -> Iterator[bytes]:
            yield head
            with path.open("rb") as f:
                while block := f.read(CHUNK):
                    yield block
            yield tail

        headers = {
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(len(head) + size + len(tail)),
        }
        conn, resp = self._send("POST", "/files", parts(), headers)
        try:
            return json.loads(resp.read())
        finally:
            conn.close()

    def create(
        self, input_file_id: str, endpoint: str, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": "24h",
        }
        if metadata:
            payload["metadata"] = metadata
        return self._json("POST", "/batches", payload)  # type: ignore[no-any-return]

    def get(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"/batches/{_segment(batch_id)}")  # type: ignore[no-any-return]

    def list(self, limit: int, after: str | None = None) -> dict[str, Any]:
        query: dict[str, str | int] = {"limit": limit}
        if after:
            query["after"] = after
        return self._json("GET", "/batches?" + urlencode(query))  # type: ignore[no-any-return]

    def cancel(self, batch_id: str) -> dict[str, Any]:
        path = f"/batches/{_segment(batch_id)}/cancel"
        return self._json("POST", path)  # type: ignore[no-any-return]

    def download(self, file_id: str, out: BinaryIO) -> int:
        """GET /files/{id}/content streamed into `out`; the bytes written."""
        conn, resp = self._send("GET", f"/files/{_segment(file_id)}/content")
        written = 0
        try:
            while block := resp.read(CHUNK):
                out.write(block)
                written += len(block)
        except (OSError, http.client.HTTPException) as e:
            raise Unreachable(f"download of {file_id} broke off: {e}") from e
        finally:
            conn.close()
        return written


def _early_answer(conn: http.client.HTTPConnection) -> http.client.HTTPResponse | None:
    """The error a server answered before it had the whole body (a 413 as soon as an
    upload passes its limit, then a reset under the client still sending), if any."""
    if conn.sock is None:  # never connected: nothing to read
        return None
    try:
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException):
        return None
    return resp if resp.status >= 400 else None


def _segment(value: str) -> str:
    # An id is one path segment: refuse what would change the path.
    if not value or any(c in value for c in "/?#%\r\n ") or value in (".", ".."):
        raise ValueError(f"not an id: {value!r}")
    return value
