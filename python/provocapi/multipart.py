"""The one streaming multipart/form-data reader (POST /v1/files, /v1/batch and
/v1/adapters/upload): a file part passes through in chunks, to disk or to a
store, so an upload of any size never sits whole in memory; text fields are kept,
each under a cap; a part's headers are bounded; the body stops at a byte limit
(413 while it is still arriving, never after buffering it); a malformed body is
a 400 that says what is wrong."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .asgi import ClientGone, Request, too_large
from .error_catalog import INVALID_BODY
from .errors import ApiError

MAX_HEADER_BYTES = 16 * 1024  # one part's headers, or the preamble
_BOUNDARY = re.compile(rb'boundary="?([^";,\s]{1,200})"?', re.I)
_NAME = re.compile(rb'\bname="([^"]*)"', re.I)
_FILENAME = re.compile(rb'\bfilename="([^"]*)"', re.I)


class MalformedMultipart(Exception):
    """The body is not the multipart it claims to be (the message says how)."""


def boundary_of(content_type: bytes) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type; None for any other."""
    if not content_type.lower().startswith(b"multipart/form-data"):
        return None
    m = _BOUNDARY.search(content_type)
    return m.group(1) if m else None


def form_boundary(req: Request) -> bytes | None:
    """The request's multipart/form-data boundary, if it is one."""
    for name, value in req.scope["headers"]:
        if name == b"content-type":
            return boundary_of(bytes(value))
    return None


def bad(detail: str) -> ApiError:
    return INVALID_BODY.build(detail=detail)


async def request_chunks(
    req: Request, limit: int | None = None, over: Callable[[], ApiError] | None = None
) -> AsyncIterator[bytes]:
    """The request body's chunks, refused (`over`, by default a 413 naming `limit`)
    as soon as the total passes `limit`, or before a byte when Content-Length does."""
    most = limit if limit is not None else -1
    refuse = over or (lambda: too_large(most))
    if limit is not None and req.content_length is not None and req.content_length > limit:
        raise refuse()
    while True:
        msg = await req.receive_upload()
        if msg["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = msg.get("body", b"")
        if limit is not None and req.uploaded > limit:
            raise refuse()
        if chunk:
            yield chunk
        if not msg.get("more_body", False):
            return


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None  # None: a text field


class MultipartReader:
    """Parts one after another: `next_part`, then its bytes by `data`, `small` or
    `save` (read to the end before the next part)."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        # the first delimiter has no CRLF before it: pretend it has
        self._buf = bytearray(b"\r\n")
        self._delim = b"\r\n--" + boundary
        self._eof = False
        self._started = False
        self._done = False

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            self._buf += await anext(self._chunks)
        except StopAsyncIteration:
            self._eof = True
            return False
        return True

    async def _until(self, marker: bytes, what: str) -> bytes:
        """The bytes up to `marker` (consumed), at most MAX_HEADER_BYTES of them."""
        while (idx := self._buf.find(marker)) < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise MalformedMultipart(f"{what} too long")
            if not await self._fill():
                raise MalformedMultipart("the multipart body ends before its closing boundary")
        head = bytes(self._buf[:idx])
        del self._buf[: idx + len(marker)]
        return head

    async def _after_delimiter(self) -> bool:
        """True when another part follows, False at the closing boundary."""
        while len(self._buf) < 2:
            if not await self._fill():
                raise MalformedMultipart("the multipart body ends before its closing boundary")
        if self._buf[:2] == b"--":
            self._done = True
            return False
        padding = await self._until(b"\r\n", "a boundary line is")
        if padding.strip(b" \t"):
            raise MalformedMultipart("a multipart boundary is followed by garbage")
        return True

    async def next_part(self) -> Part | None:
        """The next part's name and filename; None after the closing boundary."""
        if self._done:
            return None
        if not self._started:
            self._started = True
            await self._until(self._delim, "no multipart boundary found: the preamble is")
            if not await self._after_delimiter():
                return None
        headers = await self._until(b"\r\n\r\n", "a multipart part's headers are")
        disposition = next(
            (h for h in headers.split(b"\r\n") if h.lower().startswith(b"content-disposition")),
            b"",
        )
        name = _NAME.search(disposition)
        if name is None:
            raise MalformedMultipart("a multipart part has no name")
        filename = _FILENAME.search(disposition)
        return Part(
            name.group(1).decode("utf-8", "replace"),
            filename.group(1).decode("utf-8", "replace") if filename else None,
        )

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's bytes, as they arrive."""
        keep = len(self._delim)
        while True:
            idx = self._buf.find(self._delim)
            if idx >= 0:
                if idx:
                    yield bytes(self._buf[:idx])
                del self._buf[: idx + keep]
                await self._after_delimiter()
                return
            if len(self._buf) > keep:  # all but a tail that might start the delimiter
                cut = len(self._buf) - keep
                yield bytes(self._buf[:cut])
                del self._buf[:cut]
            if not await self._fill():
                raise MalformedMultipart("the multipart body ends inside a part")

    async def small(self, cap: int, name: str = "") -> bytes:
        """The current part whole, refused past `cap` bytes."""
        out = bytearray()
        async for chunk in self.data():
            out += chunk
            if len(out) > cap:
                label = f"field '{name[:64]}'" if name else "a form field"
                raise MalformedMultipart(f"{label} is too long")
        return bytes(out)

    async def save(self, path: Path) -> int:
        """Writes the current part to `path`; its size."""
        written = 0
        with open(path, "wb") as out:
            async for chunk in self.data():
                out.write(chunk)
                written += len(chunk)
        return written


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # form name → where it was written
    bytes: int = 0  # the files' total size


async def read_form(
    chunks: AsyncIterator[bytes], boundary: bytes, files: dict[str, Path], field_bytes: int
) -> Form:
    """A whole form: a file part named in `files` is written to its path, other file
    parts are refused, text fields are kept (each at most `field_bytes`)."""
    reader = MultipartReader(chunks, boundary)
    form = Form()
    try:
        while (part := await reader.next_part()) is not None:
            if part.filename is None:
                value = await reader.small(field_bytes, part.name)
                form.fields[part.name] = value.decode("utf-8", "replace")
                continue
            path = files.get(part.name)
            if path is None:
                raise MalformedMultipart(f"unexpected file field '{part.name[:64]}'")
            form.bytes += await reader.save(path)
            form.files[part.name] = path
    except MalformedMultipart as exc:
        raise bad(str(exc)) from None
    return form
