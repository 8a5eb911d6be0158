"""The package's one free_port and wait_healthy (launcher, simulator, tests, bench)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from provocapi import netutil
from provocapi.netutil import (
    ListenRefused,
    check_listen,
    free_port,
    free_ports,
    listen_address,
    wait_healthy,
)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(0 < p < 65536 for p in [*ports, free_port()])


class ScriptedSocket:
    """A socket whose bind(port 0) gets the next port of a script, as the OS would."""

    script: list[int] = []
    closed = 0

    def __init__(self, *_args: object) -> None:
        self.port = 0

    def bind(self, _addr: tuple[str, int]) -> None:
        self.port = ScriptedSocket.script.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def close(self) -> None:
        ScriptedSocket.closed += 1


def test_free_ports_never_hands_out_a_port_to_avoid(monkeypatch: pytest.MonkeyPatch) -> None:
    # serve's own port (41000) is free until Granian binds it, after the simulators start:
    # the OS may well hand it to a simulator first (a CI run once served the tests the
    # simulator's answers at the gateway's address)
    ScriptedSocket.script, ScriptedSocket.closed = [41000, 41001, 41000, 41002], 0
    monkeypatch.setattr(netutil.socket, "socket", ScriptedSocket)
    assert free_ports(2, avoid={41000}) == [41001, 41002]
    assert ScriptedSocket.closed == 4  # every probe released, the avoided ones too


def test_wait_healthy_fails_with_the_exit_code_of_a_dead_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(10)
    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", 5.0, proc)


def test_wait_healthy_gives_up_and_says_what_it_saw() -> None:
    with pytest.raises(RuntimeError, match=r"not healthy after 0\.3 s"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", 0.3)


def test_listen_address_gives_granian_a_number() -> None:
    port = free_port()
    assert listen_address("localhost", port) == "127.0.0.1"
    assert listen_address("127.0.0.1", port) == "127.0.0.1"
    assert listen_address("[::1]", port) == "::1"  # a URL's brackets off


def test_check_listen_ignores_a_port_left_in_time_wait() -> None:
    # a server's connection closed first by the server lingers in TIME_WAIT; a restart
    # on the same port must not read that as taken
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = int(srv.getsockname()[1])
        cli = socket.create_connection(("127.0.0.1", port))
        conn, _ = srv.accept()
        conn.close()  # the server's side closes first: it holds the TIME_WAIT
        cli.close()
    check_listen("127.0.0.1", port)  # raises if it reads as taken


def test_listen_address_says_why_a_name_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netutil.socket, "getaddrinfo", no_such_name)
    with pytest.raises(ListenRefused, match=r"cannot resolve 'nosuch\.invalid': Name or service"):
        listen_address("nosuch.invalid", 8080)


def test_check_listen_says_who_holds_a_taken_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = int(s.getsockname()[1])
        with pytest.raises(ListenRefused, match="another process listens there"):
            check_listen("127.0.0.1", port)
