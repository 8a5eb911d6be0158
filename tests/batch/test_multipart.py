"""The one streaming multipart reader (provocapi/multipart.py), whatever the
chunking of the body: parts, whole forms, malformed bodies, the byte limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from provocapi.errors import ApiError
from provocapi.multipart import (
    MAX_HEADER_BYTES,
    Form,
    MalformedMultipart,
    MultipartReader,
    boundary_of,
    read_form,
    request_chunks,
)

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


def _form_body(*parts: bytes) -> bytes:
    return b"".join(b"--xYz123\r\n" + p + b"\r\n" for p in parts) + b"--xYz123--\r\n"


def _field(name: str, value: bytes) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value


def _file(name: str, value: bytes) -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"; filename="x.bin"\r\n\r\n'
    return head.encode() + value


def _form(body: bytes, files: dict[str, Path], size: int = 5) -> Form:
    return asyncio.run(read_form(_chunked(body, size), BOUNDARY, files, 64))


def test_a_form_writes_its_files_and_keeps_its_fields(tmp_path: Path) -> None:
    body = _form_body(_field("name", b"bot"), _file("weights", PAYLOAD))
    form = _form(body, {"weights": tmp_path / "w"})
    assert form.fields == {"name": "bot"} and form.bytes == len(PAYLOAD)
    assert (tmp_path / "w").read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_form_body(_file("other", b"x")), "unexpected file field 'other'"),
        (_form_body(_field("name", b"x" * 65)), "field 'name' is too long"),
        (_form_body(b"X-Pad: " + b"p" * (MAX_HEADER_BYTES + 1)), "headers are too long"),
        (_form_body(b"Content-Disposition: form-data\r\n\r\nv"), "has no name"),
        (b"no boundary here" * 2000, "no multipart boundary found"),
        (_form_body(_field("name", b"x"))[:-20], "ends"),
    ],
)
def test_a_malformed_form_is_a_400_that_says_why(body: bytes, says: str, tmp_path: Path) -> None:
    with pytest.raises(ApiError) as err:
        _form(body, {"weights": tmp_path / "w"})
    assert err.value.status == 400 and says in str(err.value)


class _Req:
    """Just what request_chunks reads of a Request: Content-Length, receive_upload() and
    the bytes it has handed out."""

    def __init__(self, chunks: list[bytes], content_length: int | None) -> None:
        self.content_length = content_length
        self.uploaded = 0
        self._msgs = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

    async def receive_upload(self) -> dict[str, object]:
        msg = self._msgs.pop(0)
        self.uploaded += len(msg["body"])  # type: ignore[arg-type]
        return msg


async def _drain(req: _Req, limit: int | None) -> int:
    got = 0
    async for chunk in request_chunks(req, limit):  # type: ignore[arg-type]
        got += len(chunk)
    return got


def test_the_byte_limit_stops_the_body_while_it_streams() -> None:
    assert asyncio.run(_drain(_Req([b"a" * 10] * 3, None), 30)) == 30
    assert asyncio.run(_drain(_Req([b"a" * 10] * 3, None), None)) == 30
    for req in (_Req([b"a" * 10] * 4, None), _Req([], 31)):  # streamed, or announced
        with pytest.raises(ApiError) as err:
            asyncio.run(_drain(req, 30))
        assert err.value.status == 413
