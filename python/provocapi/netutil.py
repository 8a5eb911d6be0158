"""Loopback plumbing shared by the launcher, the simulator and the tests: a free
port, whether serve's own address can be listened on, and waiting for a child
process's HTTP endpoint to answer 200.

Standard library only, so that anything (bench scripts included) can import it
without loading the core.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Collection


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(n: int, host: str = "127.0.0.1", avoid: Collection[int] = ()) -> list[int]:
    """``n`` distinct free ports: all bound at once, so none is handed out twice. None is in
    ``avoid``: a port already promised to someone who has not bound it yet (serve's own
    port, while the simulators it starts first pick theirs); a drawn one stays bound
    until the end, so the OS hands out another."""
    socks: list[socket.socket] = []
    picked: list[int] = []
    try:
        while len(picked) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
            port = int(s.getsockname()[1])
            if port not in avoid:
                picked.append(port)
        return picked
    finally:
        for s in socks:
            s.close()


class ListenRefused(Exception):
    """serve cannot listen where it was asked to: the message says why."""


def listen_address(host: str, port: int) -> str:
    """The numeric address serve listens on for ``host``: Granian takes no names
    (``localhost`` is 127.0.0.1 here) and no URL brackets. ListenRefused when a
    name does not resolve."""
    bare = host.strip("[]")  # an IPv6 address may come in a URL's brackets
    try:
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenRefused(f"cannot resolve {host!r}: {exc.strerror}") from None
    return str(infos[0][4][0])


def check_listen(address: str, port: int) -> None:
    """Binds ``address:port`` for a moment with SO_REUSEADDR, as a server binds (a port
    whose last connections linger in TIME_WAIT counts as free). ListenRefused when it
    is taken, not an address of this machine, or privileged."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
    except OSError as exc:
        why = f"cannot listen on {address}:{port}: {exc.strerror or exc}"
        if exc.errno == errno.EADDRINUSE:
            why += " (another process listens there: stop it or pick another --port)"
        raise ListenRefused(why) from None


def wait_healthy(
    url: str,
    timeout_s: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll ``GET url`` until it answers 200. Raises RuntimeError when ``proc`` exits
    first or the time runs out; the message says what the last attempt saw."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was healthy")
        try:
            with direct.open(url, timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{url} not healthy after {timeout_s:g} s ({last})")
        time.sleep(interval_s)
