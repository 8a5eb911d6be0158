"""Loopback addresses and names: what only this machine can reach.

Keyless mode listens on loopback alone, and it must also answer only requests
addressed to this machine by name: a web page whose own name an attacker
re-points at 127.0.0.1 (DNS rebinding) is, to the browser, the same origin as
its site, so it sends no Origin a CORS list could refuse; its requests still
carry the attacker's name in `Host`.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache


# keyless mode asks it of every call (its server and client addresses, its Host): the
# few addresses a machine sees are parsed once, not at 2-3 µs a call (256 entries: a
# caller sending made-up Hosts keeps at most 256 header values here)
@lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name: it may resolve to anything
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # an IPv4 client of a dual-stack (::) socket
    return ip.is_loopback


def is_local_host_header(value: bytes) -> bool:
    """A `Host` naming this machine: localhost or a name under `.localhost` (browsers
    resolve those to loopback themselves, RFC 6761), or a loopback address; any port,
    but a port (1..65535): `localhost:abc` is no Host a client that connected sends."""
    try:
        text = value.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return False
    if text.startswith("["):  # [v6] or [v6]:port
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return False
        return is_loopback(host)
    host, sep, port = text.rpartition(":")
    if not sep:
        host = text
    elif not _is_port(port):
        return False
    host = host.rstrip(".")  # a fully qualified "localhost." names the same
    return host == "localhost" or host.endswith(".localhost") or is_loopback(host)


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isdigit() and 0 < int(text) <= 65535
