"""The write deadline (write_deadline.py, Reply.write) and its setting, `[server] write_timeout_s`.

In-process, with ASGI `send` functions standing in for Granian's: a send that never
completes is cut once it has waited the timeout (the reply reads as a client that
left, the task is usable afterwards), sends that complete however slowly in all are
not, a cancellation that is not the deadline's still propagates, and the sweeper
goes away when no stream is left; a connection is found and reset by its scope's
addresses. The end-to-end case (a real socket that is never
read, its connection reset) is tests/faults/test_reader_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from harness.procs import run_cli
from provocapi import config, conn_reset
from provocapi.asgi import ClientGone, Message, Reply
from provocapi.write_deadline import WriteDeadlines

TIMEOUT_S = 0.2


async def _stalled_send(msg: Message) -> None:
    if msg["type"] == "http.response.body":
        await asyncio.Event().wait()  # a client that takes nothing: the send waits


async def _slow_send(msg: Message) -> None:
    await asyncio.sleep(TIMEOUT_S / 4)  # slow, yet each send completes


def reply(send: Any, deadlines: WriteDeadlines) -> Reply:
    # no scope: there is no connection to reset in-process
    return Reply(send, [], deadlines=deadlines)


async def test_a_send_that_takes_nothing_is_cut_after_the_timeout() -> None:
    deadlines = WriteDeadlines(TIMEOUT_S)
    r = reply(_stalled_send, deadlines)
    await r.start_stream()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ClientGone):
        await r.write(b"data: {}\n\n")
    took = loop.time() - started
    assert TIMEOUT_S <= took < TIMEOUT_S + 1.0
    assert r.client_gone and r.write_expired and r.sending == 0.0
    # the deadline's cancellation was withdrawn: the task goes on (usage, the slot)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)
    assert deadlines.watched == 0


async def test_sends_that_complete_are_never_cut_however_long_the_stream() -> None:
    deadlines = WriteDeadlines(TIMEOUT_S)
    r = reply(_slow_send, deadlines)
    await r.start_stream()
    for _ in range(12):  # three times the timeout in all
        await r.write(b"data: {}\n\n")
    await r.end_stream()
    assert not r.client_gone and not r.write_expired and r.ended


async def test_a_cancellation_that_is_not_the_deadlines_propagates() -> None:
    deadlines = WriteDeadlines(30.0)
    r = reply(_stalled_send, deadlines)

    async def relay() -> None:
        await r.start_stream()
        await r.write(b"data: {}\n\n")

    task = asyncio.create_task(relay())
    await asyncio.sleep(0.01)
    task.cancel()  # the client left: the disconnect guard's cancellation
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not r.write_expired


async def test_the_sweeper_forgets_ended_streams_and_stops() -> None:
    deadlines = WriteDeadlines(TIMEOUT_S)
    go = asyncio.Event()

    async def one_stream() -> None:
        r = reply(_slow_send, deadlines)
        await r.start_stream()
        await go.wait()
        await r.write(b"data: {}\n\n")
        await r.end_stream()

    streams = [asyncio.create_task(one_stream()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert deadlines.watched == 5
    go.set()
    await asyncio.gather(*streams)
    await asyncio.sleep(deadlines.tick_s * 3)
    assert deadlines.watched == 0
    assert deadlines._sweeper is None


def test_the_write_timeout_has_its_documented_default() -> None:
    assert config.load(None).server.write_timeout_s == 60.0


MINIMAL = """
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


@pytest.mark.parametrize("value", ["0", "0.05", "-1", "7200", "nan", "inf"])
def test_an_out_of_range_write_timeout_is_refused(value: str) -> None:
    with pytest.raises(config.ConfigError) as exc:
        config.parse(f"[server]\nwrite_timeout_s = {value}\n{MINIMAL}", "test.toml")
    assert "server.write_timeout_s" in str(exc.value)


@pytest.mark.parametrize("value", [0.1, 3600.0])
def test_the_bounds_of_the_write_timeout_are_accepted(value: float) -> None:
    cfg = config.parse(f"[server]\nwrite_timeout_s = {value}\n{MINIMAL}", "test.toml")
    assert cfg.server.write_timeout_s == value


def test_serve_refuses_an_out_of_range_write_timeout_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "provocapi.toml"
    path.write_text(f"[server]\nwrite_timeout_s = 0\n{MINIMAL}")
    res = run_cli("serve", "--config", str(path), "--data-dir", str(tmp_path / "data"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "server.write_timeout_s must be within 0.1..3600" in res.stderr


def test_conn_reset_finds_a_connection_by_its_scope_addresses() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    served, _ = listener.accept()
    other = socket.create_connection(listener.getsockname())
    other_served, _ = listener.accept()
    try:
        host, port = served.getsockname()
        peer_host, peer_port = served.getpeername()
        # as Granian's scope gives them: the ports as strings
        key = conn_reset.scope_key((host, str(port)), (peer_host, str(peer_port)))
        assert key is not None
        served.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:  # the client reads nothing: fill what the kernel holds for it
                served.send(b"x" * 65536)
        assert conn_reset.reset({key}) == 1
        served.close()  # what Granian does once its write fails: the kernel sends a RST
        client.settimeout(10)
        with pytest.raises(ConnectionResetError):
            while client.recv(1 << 20):  # what reached it, then the reset
                pass
        other.sendall(b"x")  # the other connection is untouched
        assert other_served.recv(1) == b"x"
    finally:
        for s in (listener, client, served, other, other_served):
            s.close()


def test_scope_keys_normalize_addresses_and_skip_what_is_not_tcp() -> None:
    mapped = conn_reset.scope_key(("::ffff:127.0.0.1", "8080"), ("::ffff:10.0.0.1", "5000"))
    assert mapped == (("127.0.0.1", 8080), ("10.0.0.1", 5000))
    assert conn_reset.scope_key(None, ("127.0.0.1", 1)) is None  # a Unix socket's scope
    assert conn_reset.scope_key(("/run/x.sock", ""), ("127.0.0.1", 1)) is None


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_conn_reset_leaves_no_descriptor_behind() -> None:
    # Each pass looks at every descriptor, files and pipes included: one left open per
    # non-socket one doubled them at every cut, until the process could open no more
    # (EMFILE: no connection accepted, no reset found) after a few dozen cut clients.
    files = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]
    r, w = os.pipe()
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        missing = (("127.0.0.1", 1), ("127.0.0.1", 2))  # no connection has these
        before = _open_fds()
        for _ in range(3):
            assert conn_reset.reset({missing}) == 0
        assert _open_fds() == before
    finally:
        listener.close()
        for fd in (*files, r, w):
            os.close(fd)


@pytest.mark.parametrize(("bind", "mapped"), [("0.0.0.0", False), ("::", True)])
def test_conn_reset_finds_a_connection_to_a_wildcard_bind(bind: str, mapped: bool) -> None:
    # Granian's scope gives the address it listens on as `server`, not the one the
    # client reached: ("0.0.0.0", "8080") behind `--host 0.0.0.0`, as in every container,
    # and a dual-stack `::` names IPv4 clients as ::ffff:a.b.c.d. The socket itself
    # listens on loopback (tests bind nothing wider): the scope is what is matched.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    try:
        peer_host, peer_port = served.getpeername()[:2]
        shown = f"::ffff:{peer_host}" if mapped else peer_host
        key = conn_reset.scope_key((bind, str(port)), (shown, str(peer_port)))
        assert key is not None
        assert conn_reset.reset({key}) == 1
        client.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            assert client.recv(1) == b""  # ended: nothing was unsent, so a FIN first
    finally:
        for s in (listener, client, served):
            s.close()
