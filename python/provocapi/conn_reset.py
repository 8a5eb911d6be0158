"""Reset a client's TCP connection that Granian holds, found by its addresses.

An ASGI app cannot close its connection: when it returns (or raises) mid-answer,
Granian keeps the connection open until what it buffered is written, and a client
that never reads never takes it (measured: bench/slow_reader.py). The socket is
found among the process's descriptors by the scope's `client` and `server`
addresses (Granian's `server` is the address it listens on: behind 0.0.0.0 or ::
only its port counts), and reset on a duplicate of it: SO_LINGER 0, then shutdown.
Granian's pending write fails, it closes its descriptor, and the kernel sends a RST
and frees the unsent bytes. The descriptor itself is never closed here.

Only a cut client pays for this: one pass over the process's descriptors, about
6 to 10 µs each on a loaded two-core machine (a dup, the peer's address, a close),
30 to 90 ms at 4,000 descriptors; the caller runs it off the event loop.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import stat
import struct
from collections.abc import Iterable, Sequence

log = logging.getLogger("provocapi")

# SO_LINGER on, 0 s: close discards what is unsent and sends a RST
_LINGER_ABORT = struct.pack("ii", 1, 0)

Address = tuple[str, int]
Key = tuple[Address, Address]  # (our end, the client's end), normalized
ANY_ADDRESS = "*"  # our end's host in a key when the server listens on all addresses
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})


def _address(raw: Sequence[object] | None) -> Address | None:
    """(host, port) of a scope's `client`/`server` or a getsockname(): the host
    normalized (an IPv4-mapped IPv6 address as IPv4), the port an int (Granian
    gives a string)."""
    if raw is None or len(raw) < 2:
        return None
    try:
        ip = ipaddress.ip_address(str(raw[0]))
        port = int(str(raw[1]))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), port


def scope_key(server: Sequence[object] | None, client: Sequence[object] | None) -> Key | None:
    ours, theirs = _address(server), _address(client)
    if ours is None or theirs is None:
        return None  # not TCP (a Unix socket): nothing to find
    if ours[0] in _UNSPECIFIED:
        # Granian's `server` is the address it listens on: behind 0.0.0.0 or ::, our
        # end is known by its port alone (the client's address and port tell it apart)
        ours = (ANY_ADDRESS, ours[1])
    return ours, theirs


def _fds() -> Iterable[int]:
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return ()
    return (int(n) for n in names if n.isdigit())


def _socket_copy(fd: int) -> socket.socket | None:
    """A socket on a duplicate of `fd`, or None when `fd` is no socket (a file, a pipe)
    or is closed meanwhile. Not socket.fromfd: when the descriptor is no socket, it
    raises with its duplicate left open, one more descriptor per file at every pass."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        copy = os.dup(fd)
    except OSError:
        return None
    try:
        return socket.socket(fileno=copy)  # the family and type as the kernel has them
    except OSError:
        os.close(copy)
        return None


def reset(keys: set[Key]) -> int:
    """Resets this process's TCP connections with those addresses; returns how many."""
    ports = {theirs[1] for _, theirs in keys}  # a cheap first test, before normalizing
    done = 0
    for fd in _fds():
        if done == len(keys):
            break
        sock = _socket_copy(fd)
        if sock is None:
            continue
        try:
            peer = sock.getpeername()
            if type(peer) is not tuple or peer[1] not in ports:
                continue
            ours, theirs = _address(sock.getsockname()), _address(peer)
            if ours is None or theirs is None:
                continue
            if (ours, theirs) not in keys and ((ANY_ADDRESS, ours[1]), theirs) not in keys:
                continue
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_STREAM:
                continue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
            sock.shutdown(socket.SHUT_RDWR)
            done += 1
        except (OSError, TypeError):  # not a socket, not connected, not TCP
            continue
        finally:
            with contextlib.suppress(OSError):
                sock.close()  # the duplicate only
    if done < len(keys):
        log.warning("write deadline: %d connection(s) to reset were not found", len(keys) - done)
    return done
