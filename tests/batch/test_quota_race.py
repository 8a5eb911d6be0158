"""Uploads streaming at once each checked the tenant's quota against what was stored
when they began, so together they took it past the quota; the last to be stored is
now refused (413 storage_quota_exceeded), whatever overlapped it."""

from __future__ import annotations

import socket
import time

import orjson

from .conftest import BatchStack
from .test_batch_e2e import upload

KIB = 1024
QUOTA = 200 * KIB  # conftest.QUOTA_BYTES


def _form(size: int) -> tuple[bytes, bytes]:
    head = (
        b'--XQ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b'--XQ\r\nContent-Disposition: form-data; name="file"; filename="q.jsonl"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    return head, b"q" * size + b"\r\n--XQ--\r\n"


def _status(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_uploads_at_once_stay_within_the_quota(bstack: BatchStack) -> None:
    key = bstack.gateway.new_keys("quota-race")["quota-race"]
    client = bstack.client(key)
    for _ in range(4):  # 120 KiB stored: room for two more of 30 KiB, not three
        upload(client, b"s" * (30 * KIB))
    socks = []
    for _ in range(4):
        head, rest = _form(30 * KIB)
        body_len = len(head) + len(rest)
        s = socket.create_connection(("127.0.0.1", bstack.gateway.port))
        s.sendall(
            b"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {body_len}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=XQ\r\n\r\n"
            + head
            + rest[: 10 * KIB]
        )
        socks.append((s, rest[10 * KIB :]))
    time.sleep(0.5)  # every upload has begun (and read the quota) before any ends
    for s, tail in socks:
        s.sendall(tail)
    answers = [_status(s) for s, _ in socks]
    for s, _ in socks:
        s.close()
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] != 200]
    assert len(ok) <= 2, answers
    assert all(
        status == 413 and body["error"]["code"] == "storage_quota_exceeded"
        for status, body in refused
    ), refused
    stored = sum(f.bytes for f in client.files.list())
    assert stored <= QUOTA, stored
