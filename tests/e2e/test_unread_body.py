"""An error answered before the request's body was read to its end.

Found by the proof suite's fuzzing: a malformed 2 MB upload got its 400 with no
`connection: close`, then the server closed the connection; the client, reusing it,
got "Server disconnected without sending a response" for its next request. Now any
answer (an error or not) started with a large rest unread says `connection: close`,
and a small rest is read off so that the connection stays open
(python/provocapi/asgi.py, Reply._unread_rest).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest

from .conftest import Stack

BOUNDARY = b"b0undary"


def _request(path: bytes, body: bytes, ctype: bytes, key: str) -> bytes:
    head = [
        b"POST " + path + b" HTTP/1.1",
        b"host: gateway",
        b"authorization: Bearer " + key.encode(),
        b"content-type: " + ctype,
        b"content-length: " + str(len(body)).encode(),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _response(sock: socket.socket) -> tuple[int, dict[bytes, bytes]]:
    """Status and headers of one response, its body read off (content-length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in lines[1:])}
    size = int(headers.get(b"content-length", b"0"))
    while len(rest) < size:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside the response body"
        rest += chunk
    return int(lines[0].split()[1]), headers


def _closed_by_server(sock: socket.socket, within_s: float = 10.0) -> bool:
    sock.settimeout(within_s)
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def _connect(stack: Stack) -> socket.socket:
    url = urlparse(stack.root_url)
    return socket.create_connection((url.hostname, url.port), timeout=30)


def _malformed_upload() -> tuple[bytes, bytes, bytes]:
    # a part whose headers never end: refused once past 16 KiB, 2 MB still unread
    body = b"--" + BOUNDARY + b"\r\n" + b"x" * 2_000_000
    return b"/v1/files", body, b"multipart/form-data; boundary=" + BOUNDARY


def _chat(size: int) -> tuple[bytes, bytes, bytes]:
    text = "y" * size
    body = b'{"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "'
    return b"/v1/chat/completions", body + text.encode() + b'"}]}', b"application/json"


@pytest.mark.parametrize(
    ("case", "sent", "wrong_key"),
    [
        ("malformed 2 MB upload", _malformed_upload(), False),
        ("300 KB chat, unknown key", _chat(300_000), True),
    ],
)
def test_a_large_unread_body_is_answered_with_connection_close(
    stack: Stack, case: str, sent: tuple[bytes, bytes, bytes], wrong_key: bool
) -> None:
    path, body, ctype = sent
    key = "pk-prov-not-a-key" if wrong_key else stack.key
    with _connect(stack) as sock:
        sock.sendall(_request(path, body, ctype, key))
        status, headers = _response(sock)
        assert status == (401 if wrong_key else 400), case
        assert headers.get(b"connection") == b"close", (case, headers)
        assert _closed_by_server(sock), f"{case}: the server kept a connection it said it closes"


def test_a_small_refused_body_is_read_off_and_the_connection_kept(stack: Stack) -> None:
    # a client retrying with a wrong key keeps its connection
    _kept_over(stack, _request(*_chat(2_000), "pk-prov-not-a-key"), 3, 401)


def _kept_over(stack: Stack, request: bytes, times: int, status: int) -> None:
    """`request` answered `status` `times` on one connection, then a /health on it too."""
    with _connect(stack) as sock:
        for _ in range(times):
            sock.sendall(request)
            got, headers = _response(sock)
            assert got == status
            assert b"connection" not in headers, headers
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n")
        got, _ = _response(sock)
        assert got == 200


def _get_with_body(stack: Stack, size: int) -> bytes:
    head = b"GET /v1/models HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer "
    head += stack.key.encode() + b"\r\ncontent-length: " + str(size).encode() + b"\r\n\r\n"
    return head + b"z" * size


def test_a_success_with_a_large_body_unread_says_connection_close(stack: Stack) -> None:
    """GET /v1/models never reads a body: its 200 must still tell the client not to reuse."""
    with _connect(stack) as sock:
        sock.sendall(_get_with_body(stack, 2_000_000))
        status, headers = _response(sock)
        assert status == 200
        assert headers.get(b"connection") == b"close", headers
        assert _closed_by_server(sock)


def test_a_success_with_a_small_body_unread_keeps_the_connection(stack: Stack) -> None:
    with _connect(stack) as sock:
        for _ in range(3):
            sock.sendall(_get_with_body(stack, 1_000))
            status, headers = _response(sock)
            assert status == 200
            assert b"connection" not in headers, headers


def _upload(content: bytes) -> tuple[bytes, bytes, bytes]:
    body = b"".join(
        [
            b"--" + BOUNDARY + b'\r\ncontent-disposition: form-data; name="purpose"\r\n\r\n',
            b"user_data\r\n",
            b"--" + BOUNDARY + b"\r\ncontent-disposition: form-data; "
            b'name="file"; filename="notes.txt"\r\ncontent-type: text/plain\r\n\r\n',
            content + b"\r\n--" + BOUNDARY + b"--\r\n",
        ]
    )
    return b"/v1/files", body, b"multipart/form-data; boundary=" + BOUNDARY


def test_a_large_upload_read_to_its_delimiter_keeps_the_connection(stack: Stack) -> None:
    """The multipart reader stops at the closing delimiter, before the server's empty
    last message: the body is still all read, and the connection must stay open (it
    was closed after every upload past 64 KiB; a worker-bound client then reconnected,
    possibly to another process)."""
    _kept_over(stack, _request(*_upload(b"w" * 500_000), stack.key), 2, 200)
