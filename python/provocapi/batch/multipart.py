"""A streaming multipart/form-data reader: a part's bytes pass through in chunks,
so an upload of any size never sits whole in memory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_HEADER_BYTES = 16 * 1024
_BOUNDARY = re.compile(rb'boundary="?([^";,]+)"?', re.I)
_NAME = re.compile(rb'\bname="([^"]*)"', re.I)
_FILENAME = re.compile(rb'\bfilename="([^"]*)"', re.I)


class MalformedMultipart(Exception):
    """The body is not the multipart it claims to be."""


def boundary_of(content_type: bytes) -> bytes | None:
    m = _BOUNDARY.search(content_type)
    return m.group(1) if m else None


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None


class MultipartReader:
    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._buf = bytearray()
        self._eof = False
        self._delim = b"\r\n--" + boundary
        self._first = b"--" + boundary
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

    async def _until(self, marker: bytes, cap: int) -> bytes:
        while (idx := self._buf.find(marker)) < 0:
            if len(self._buf) > cap or not await self._fill():
                raise MalformedMultipart("the multipart body ended early or has no boundary")
        head = bytes(self._buf[:idx])
        del self._buf[: idx + len(marker)]
        return head

    async def _after_boundary(self) -> bool:
        """True when another part follows, False at the closing boundary."""
        while len(self._buf) < 2:
            if not await self._fill():
                raise MalformedMultipart("the multipart body ended early")
        tail = bytes(self._buf[:2])
        del self._buf[:2]
        if tail == b"--":
            self._done = True
            return False
        if tail != b"\r\n":
            raise MalformedMultipart("a boundary is followed by garbage")
        return True

    async def next_part(self) -> Part | None:
        if self._done:
            return None
        if not self._started():
            await self._until(self._first, MAX_HEADER_BYTES)
            self._first = b""
            if not await self._after_boundary():
                return None
        headers = await self._until(b"\r\n\r\n", MAX_HEADER_BYTES)
        disposition = next(
            (h for h in headers.split(b"\r\n") if h.lower().startswith(b"content-disposition")),
            b"",
        )
        name = _NAME.search(disposition)
        if name is None:
            raise MalformedMultipart("a part has no name")
        filename = _FILENAME.search(disposition)
        return Part(
            name.group(1).decode("utf-8", "replace"),
            filename.group(1).decode("utf-8", "replace") if filename else None,
        )

    def _started(self) -> bool:
        return not self._first

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's bytes; must be read to the end before `next_part`."""
        keep = len(self._delim)
        while True:
            idx = self._buf.find(self._delim)
            if idx >= 0:
                if idx:
                    yield bytes(self._buf[:idx])
                del self._buf[: idx + keep]
                await self._after_boundary()
                return
            if len(self._buf) > keep:
                cut = len(self._buf) - keep
                yield bytes(self._buf[:cut])
                del self._buf[:cut]
            if not await self._fill():
                raise MalformedMultipart("the multipart body ended inside a part")

    async def small(self, cap: int) -> bytes:
        out = bytearray()
        async for chunk in self.data():
            out += chunk
            if len(out) > cap:
                raise MalformedMultipart("a form field is too long")
        return bytes(out)
