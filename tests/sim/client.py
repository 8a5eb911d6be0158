"""A raw HTTP/1.1 client for the conformance tests: they assert bytes, so no library
should tidy the wire up for them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes  # the body as sent (still chunk-framed when chunked)
    body: bytes  # de-chunked
    complete: bool  # chunked: the terminating 0-chunk arrived
    events: list[bytes] = field(default_factory=list)  # SSE events, each "data: ...\n\n"

    def json(self) -> Any:
        return orjson.loads(self.body)

    def data(self) -> list[bytes]:
        """The payload of each event, without "data: " and the blank line."""
        return [e[len(b"data: ") :].rstrip(b"\n") for e in self.events]

    def chunks(self) -> list[Any]:
        return [orjson.loads(d) for d in self.data() if d.strip() != b"[DONE]"]


def dechunk(raw: bytes) -> tuple[bytes, bool]:
    out = bytearray()
    pos = 0
    while True:
        end = raw.find(b"\r\n", pos)
        if end == -1:
            return bytes(out), False
        size = int(raw[pos:end], 16)
        if size == 0:
            return bytes(out), raw[end : end + 4] == b"\r\n\r\n"
        out += raw[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


def parse(data: bytes) -> Reply:
    head, _, raw = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body, complete = dechunk(raw)
    else:
        body, complete = raw, True
    events = []
    if headers.get("content-type", "").startswith("text/event-stream"):
        rest = body
        while b"\n\n" in rest:
            event, _, rest = rest.partition(b"\n\n")
            events.append(event + b"\n\n")
    return Reply(status, headers, raw, body, complete, events)


def request_bytes(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    close: bool = True,
) -> bytes:
    payload = b""
    if body is not None:
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
    lines = [f"{method} {path} HTTP/1.1", "host: sim"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"content-length: {len(payload)}")
        lines.append("content-type: application/json")
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(method, path, body, headers))
        data = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    return parse(data)


async def post(port: int, path: str, body: Any, **kw: Any) -> Reply:
    return await call(port, "POST", path, body, **kw)


async def get(port: int, path: str, **kw: Any) -> Reply:
    return await call(port, "GET", path, **kw)
