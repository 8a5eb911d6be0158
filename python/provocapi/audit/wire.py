"""The audit's HTTP client on the standard library: one JSON request, or one streamed
request read event by event with the time of its first token.

Every failure becomes data (status 0 and the reason), because a probe reports what an
endpoint did rather than stopping at the first fault."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 60.0


@dataclass(slots=True)
class Reply:
    """A whole answer. `status` 0: no HTTP answer (see `failure`)."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float
    failure: str = ""

    def json(self) -> Any:
        """The body parsed, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(slots=True)
class Streamed:
    """A streamed answer: the `data:` payloads in order. `events` holds the parsed ones;
    `malformed` the payloads that were not JSON; `done` whether `[DONE]` closed it."""

    status: int
    headers: dict[str, str]
    events: list[Any] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    done: bool = False
    ttft_s: float | None = None  # to the first chunk carrying content or a tool call
    elapsed_s: float = 0.0
    body: bytes = b""  # the body of a non-stream answer (an error, usually)
    failure: str = ""


class Endpoint:
    """An OpenAI-style base URL (`http://host:port/v1`) and its key."""

    def __init__(self, base_url: str, api_key: str = "", timeout_s: float = TIMEOUT_S) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port]/v1, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def _conn(self) -> http.client.HTTPConnection:
        if self._https:
            ctx = ssl.create_default_context()
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout_s, context=ctx
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        h = {"content-type": "application/json", "accept": "application/json"}
        if self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        h.update(extra or {})
        return h

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        conn = self._conn()
        t0 = time.perf_counter()
        try:
            conn.request(method, self._prefix + path, body=data, headers=self._headers(headers))
            resp = conn.getresponse()
            payload = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return Reply(resp.status, hdrs, payload, time.perf_counter() - t0)
        except (OSError, http.client.HTTPException) as e:
            return Reply(0, {}, b"", time.perf_counter() - t0, f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, body, headers)

    def stream(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Streamed:
        """POST with `stream: true` set; reads the SSE answer to its end."""
        data = json.dumps({**body, "stream": True}).encode()
        conn = self._conn()
        h = self._headers(headers)
        h["accept"] = "text/event-stream"
        t0 = time.perf_counter()
        out = Streamed(0, {})
        try:
            conn.request("POST", self._prefix + path, body=data, headers=h)
            resp = conn.getresponse()
            out.status = resp.status
            out.headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status != 200 or "event-stream" not in out.headers.get("content-type", ""):
                out.body = resp.read()
            else:
                _read_events(resp, out, t0)
        except (OSError, http.client.HTTPException) as e:
            out.failure = f"{type(e).__name__}: {e}"
        finally:
            conn.close()
            out.elapsed_s = time.perf_counter() - t0
        return out


def _read_events(resp: http.client.HTTPResponse, out: Streamed, t0: float) -> None:
    while True:
        line = resp.readline()
        if not line:
            return
        text = line.decode(errors="replace").strip()
        if not text.startswith("data:"):
            continue
        payload = text[5:].strip()
        if payload == "[DONE]":
            out.done = True
            continue
        try:
            event = json.loads(payload)
        except ValueError:
            out.malformed.append(payload[:200])
            continue
        out.events.append(event)
        if out.ttft_s is None and _carries_output(event):
            out.ttft_s = time.perf_counter() - t0


def _carries_output(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    for c in event.get("choices") or []:
        delta = c.get("delta") if isinstance(c, dict) else None
        if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
            return True
        if isinstance(c, dict) and c.get("text"):
            return True
    return False
