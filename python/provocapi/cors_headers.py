"""Request headers a browser page may send besides the gateway's own:
`[server] cors_allow_headers`, checked when the config loads.

A name a preflight could never ask for as written (not an HTTP token, or one of
Fetch's forbidden request headers, which a page's script cannot set) is a
mistake the operator should hear of at start, not a header that silently never
works.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# RFC 9110 5.6.2: a field name (5.1) and a method (9.1) are tokens
TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Fetch's forbidden request-header names: the browser sets them, never a page
_FORBIDDEN = frozenset(
    {
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "access-control-request-private-network",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    }
)
_FORBIDDEN_PREFIXES = ("proxy-", "sec-")


class HeaderNameError(ValueError):
    """A name no page could send as listed; the message says why."""


def header_names(names: Sequence[str]) -> frozenset[bytes]:
    """The names as a preflight asks for them (lowercase bytes); HeaderNameError
    naming the first that is not one."""
    out = set()
    for name in names:
        why = _problem(name)
        if why is not None:
            raise HeaderNameError(f"'{name}': {why}")
        out.add(name.lower().encode("ascii"))
    return frozenset(out)


def _problem(name: str) -> str | None:
    if name == "*":
        # a page could then send anything, such as the X-Forwarded-For or identity
        # headers a proxy in front may trust
        return "list the names of the headers pages may send ('*' is not taken)"
    if not (name.isascii() and TOKEN.fullmatch(name.encode("ascii"))):
        return "not a header name (letters, digits and !#$%&'*+.^_`|~- only)"
    low = name.lower()
    if low in _FORBIDDEN or low.startswith(_FORBIDDEN_PREFIXES):
        return "browsers never let a page send it (the browser sets it itself)"
    return None
