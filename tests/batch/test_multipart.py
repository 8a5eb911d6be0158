"""The streaming multipart reader, whatever the chunking of the body."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from provocapi.multipart import MalformedMultipart, MultipartReader, boundary_of

BOUNDARY = b"xYz123"
PAYLOAD = b'{"a": 1}\r\n--xYz12 not the boundary\r\n\r\n' * 50


def _body() -> bytes:
    return (
        b"--xYz123\r\n"
        b'Content-Disposition: form-data; name="purpose"\r\n\r\n'
        b"batch\r\n"
        b"--xYz123\r\n"
        b'Content-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + PAYLOAD + b"\r\n--xYz123--\r\n"
    )


async def _chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _read(data: bytes, size: int) -> tuple[dict[str, bytes], bytes, str | None]:
    reader = MultipartReader(_chunked(data, size), BOUNDARY)
    fields: dict[str, bytes] = {}
    file = b""
    name = None
    while (part := await reader.next_part()) is not None:
        if part.filename is not None:
            name = part.filename
            async for chunk in reader.data():
                file += chunk
        else:
            fields[part.name] = await reader.small(100)
    return fields, file, name


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_parts_whatever_the_chunks(size: int) -> None:
    fields, file, name = asyncio.run(_read(_body(), size))
    assert fields == {"purpose": b"batch"} and file == PAYLOAD and name == "in.jsonl"


def test_a_body_cut_short_is_refused() -> None:
    with pytest.raises(MalformedMultipart):
        asyncio.run(_read(_body()[:-40], 16))


def test_boundary_from_the_content_type() -> None:
    assert boundary_of(b'multipart/form-data; boundary="abc"') == b"abc"
    assert boundary_of(b"multipart/form-data; boundary=q-1; charset=x") == b"q-1"
    assert boundary_of(b"application/json") is None
