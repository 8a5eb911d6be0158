"""A multipart/form-data body, streamed: file parts go straight to disk, small
fields to memory, and the whole body stops at a byte limit (413 while it is
still arriving, never after buffering it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..asgi import ClientGone, Request, too_large
from ..error_catalog import INVALID_BODY

MAX_FIELD_BYTES = 64 * 1024  # a text field (name, base_model)
MAX_HEADER_BYTES = 16 * 1024  # one part's headers
_BOUNDARY = re.compile(rb'boundary="?([^";]{1,200})"?')
_NAME = re.compile(rb'\bname="([^"]*)"')


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # form name → where it was written
    bytes: int = 0  # the files' total size


def boundary_of(req: Request) -> bytes | None:
    for name, value in req.scope["headers"]:
        if name == b"content-type":
            if not value.lower().startswith(b"multipart/form-data"):
                return None
            m = _BOUNDARY.search(value)
            return m.group(1) if m else None
    return None


def bad(detail: str) -> Exception:
    return INVALID_BODY.build(detail=detail)


class _Reader:
    def __init__(self, req: Request, limit: int) -> None:
        self.req = req
        self.limit = limit
        self.size = 0
        self.done = False

    async def more(self) -> bytes:
        if self.done:
            raise bad("the multipart body ends before its closing boundary")
        msg = await self.req.receive()
        if msg["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = msg.get("body", b"")
        self.size += len(chunk)
        if self.size > self.limit:
            raise too_large(self.limit)
        self.done = not msg.get("more_body", False)
        return chunk


async def read_form(req: Request, boundary: bytes, files: dict[str, Path], limit: int) -> Form:
    """Parses the body; a file part named in `files` is written to its path, other
    file parts are refused, text fields are kept (each at most MAX_FIELD_BYTES)."""
    if req.content_length is not None and req.content_length > limit:
        raise too_large(limit)
    reader = _Reader(req, limit)
    delim = b"\r\n--" + boundary
    buf = b"\r\n"  # the first delimiter has no CRLF before it
    form = Form()
    while delim not in buf:  # the preamble
        buf += await reader.more()
        if len(buf) > MAX_HEADER_BYTES and delim not in buf:
            raise bad("no multipart boundary found")
    buf = buf[buf.index(delim) + len(delim) :]
    while True:
        while len(buf) < 2:
            buf += await reader.more()
        if buf.startswith(b"--"):
            return form
        while b"\r\n\r\n" not in buf:
            if len(buf) > MAX_HEADER_BYTES:
                raise bad("a multipart part's headers are too long")
            buf += await reader.more()
        head, buf = buf.split(b"\r\n\r\n", 1)
        m = _NAME.search(head)
        if m is None:
            raise bad("a multipart part has no name")
        name = m.group(1).decode("utf-8", "replace")
        is_file = b"filename=" in head
        if is_file:
            path = files.get(name)
            if path is None:
                raise bad(f"unexpected file field '{name[:64]}'")
            with open(path, "wb") as out:
                buf, written = await _copy_until(reader, buf, delim, out)
            form.files[name] = path
            form.bytes += written
        else:
            value = bytearray()
            while delim not in buf:
                if len(buf) > MAX_FIELD_BYTES:
                    raise bad(f"field '{name[:64]}' is too long")
                buf += await reader.more()
            at = buf.index(delim)
            value += buf[:at]
            buf = buf[at:]
            form.fields[name] = value.decode("utf-8", "replace")
        buf = buf[len(delim) :]


async def _copy_until(
    reader: _Reader, buf: bytes, delim: bytes, out: BinaryIO
) -> tuple[bytes, int]:
    """Writes the part's bytes up to the delimiter; returns what follows it."""
    written = 0
    keep = len(delim)
    while True:
        at = buf.find(delim)
        if at >= 0:
            out.write(buf[:at])
            return buf[at:], written + at
        if len(buf) > keep:  # all but a tail that might start the delimiter
            out.write(buf[:-keep])
            written += len(buf) - keep
            buf = buf[-keep:]
        buf += await reader.more()
