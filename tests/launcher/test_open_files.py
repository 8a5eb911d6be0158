"""serve raises the open-files soft limit to the hard one, and where even that is short
of what its connections need it takes fewer at once and says so (a worker at soft 1024
failed its accepts near 500 proxied calls)."""

from __future__ import annotations

import asyncio
import collections
import json
import resource
from pathlib import Path

import pytest
from harness.gateway import HOST, Gateway
from harness.procs import PY
from provocapi import open_files
from provocapi.open_files import fit_connections, raise_soft_limit

# sets the open-files limits, then becomes the command that follows
WITH_LIMITS = (
    "import os, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2]))); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)
CONNECTIONS = 400  # beyond what 512 descriptors hold, two a proxied call
MODEL = "llama-3.1-8b-instruct"  # of the embedded default


class Limited(Gateway):
    """serve started under given open-files limits, as a shell's `ulimit -n` would."""

    def __init__(self, root: Path, soft: int, hard: int) -> None:
        super().__init__(root)
        self.limits = (soft, hard)

    def command(self) -> list[str]:
        soft, hard = self.limits
        return [PY, "-c", WITH_LIMITS, str(soft), str(hard), *super().command()]


def _hard_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer's status line and body (Content-Length framed)."""
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status.strip(), await reader.readexactly(length)


async def _crowd(port: int, n: int, key: str, wait_s: float = 3.0) -> tuple[int, list[bytes]]:
    """Opens `n` connections at once and asks /health on each; on every one answered
    within `wait_s` (the rest wait in the listen backlog) it then posts a chat, all at
    once. The count answered, and each chat's status line."""
    conns = [await asyncio.open_connection(HOST, port) for _ in range(n)]
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    chat = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    try:

        async def health(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
            w.write(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            try:
                status, _ = await asyncio.wait_for(_answer(r), wait_s)
            except TimeoutError:
                return False
            return status.startswith(b"HTTP/1.1 200")

        answered = await asyncio.gather(*(health(r, w) for r, w in conns))
        live = [c for c, ok in zip(conns, answered, strict=True) if ok]

        async def ask(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bytes:
            w.write(chat)
            return (await asyncio.wait_for(_answer(r), 30))[0]

        return len(live), list(await asyncio.gather(*(ask(r, w) for r, w in live)))
    finally:
        for _, w in conns:
            w.close()


def test_a_low_soft_limit_is_raised_for_every_process(tmp_path: Path) -> None:
    hard = min(_hard_limit(), 8192)
    if hard < 2 * CONNECTIONS + open_files.SPARE:
        pytest.skip(f"this machine's hard limit ({hard}) is too low to show it")
    gw = Limited(tmp_path, soft=256, hard=hard)
    try:
        gw.start()
        key = gw.create_key("acme")
        answered, chats = asyncio.run(_crowd(gw.port, CONNECTIONS, key))
        assert answered == CONNECTIONS
        assert set(chats) == {b"HTTP/1.1 200 OK"}, collections.Counter(chats)
        limits = Path(f"/proc/{gw.pid}/limits").read_text()
        assert f"Max open files            {hard}" in limits
        assert "open files:" not in gw.output()  # the default backpressure fits
    finally:
        gw.stop()


def test_a_low_hard_limit_takes_fewer_connections_at_once(tmp_path: Path) -> None:
    # at 512 a worker took ~450 connections, then every proxied call on them was a 500
    # (EMFILE opening its routing seat's lock) and its adapter refresh failed
    gw = Limited(tmp_path, soft=512, hard=512)
    try:
        gw.start()
        out = gw.output()
        assert "open files: 512 a process: at most 192 connections per process" in out
        assert "at most 192 connections per process\n" in out  # the slow clients' line
        key = gw.create_key("acme")
        answered, chats = asyncio.run(_crowd(gw.port, CONNECTIONS, key))
        assert answered == 192  # the rest wait in the listen backlog
        assert set(chats) == {b"HTTP/1.1 200 OK"}, collections.Counter(chats)
        assert "Too many open files" not in gw.output()
    finally:
        gw.stop()


def test_the_soft_limit_goes_up_to_the_hard_one(monkeypatch: pytest.MonkeyPatch) -> None:
    set_to: list[tuple[int, int]] = []
    monkeypatch.setattr(open_files.resource, "getrlimit", lambda _r: (1024, 524288))
    monkeypatch.setattr(open_files.resource, "setrlimit", lambda _r, lim: set_to.append(lim))
    assert raise_soft_limit() == 524288
    assert set_to == [(524288, 524288)]


def test_an_unlimited_hard_limit_stops_at_the_kernels_ceiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_to: list[tuple[int, int]] = []
    infinity = resource.RLIM_INFINITY
    monkeypatch.setattr(open_files.resource, "getrlimit", lambda _r: (1024, infinity))
    monkeypatch.setattr(open_files.resource, "setrlimit", lambda _r, lim: set_to.append(lim))
    monkeypatch.setattr(open_files, "_kernel_ceiling", lambda: 1048576)
    assert raise_soft_limit() == 1048576
    assert set_to == [(1048576, infinity)]


def test_an_unlimited_soft_limit_reads_as_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    # RLIM_INFINITY is -1 to Python: taken as a count, it capped connections at one
    infinity = resource.RLIM_INFINITY
    monkeypatch.setattr(open_files.resource, "getrlimit", lambda _r: (infinity, infinity))
    monkeypatch.setattr(open_files, "_kernel_ceiling", lambda: 1048576)
    assert raise_soft_limit() == 1048576
    assert fit_connections(raise_soft_limit(), 2048) == (2048, None)


def test_a_refused_raise_keeps_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_r: int, _lim: tuple[int, int]) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(open_files.resource, "getrlimit", lambda _r: (1024, 4096))
    monkeypatch.setattr(open_files.resource, "setrlimit", refuse)
    assert raise_soft_limit() == 1024


def test_connections_fit_two_descriptors_each() -> None:
    assert fit_connections(20000, 2048) == (2048, None)
    assert fit_connections(2 * 2048 + open_files.SPARE, 2048) == (2048, None)
    fits, note = fit_connections(1024, 2048)
    assert fits == (1024 - open_files.SPARE) // 2 == 448
    assert note is not None and "1024 a process: at most 448 connections per process" in note
    assert fit_connections(10, 2048)[0] == 1  # never none at all
