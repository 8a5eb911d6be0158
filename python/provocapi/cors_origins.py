"""Which web origins a browser may call the gateway from: `[server] cors_allow_origins`.

Patterns are checked when the config loads (a typo must not quietly shut a web
app out, or let every site in) and compiled into one expression that a
request's `Origin` header is matched against. A pattern is `*` (alone), or an
origin as browsers send it, `scheme://host[:port]`, where the port may be `*`
(any, or none) and the host may start with `*.` (any subdomain, at any depth).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ANY = "*"
# keyless mode's default: pages served from this machine only (docs/config.md says why)
LOOPBACK = (
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
    # names under .localhost: browsers resolve them to loopback themselves (RFC 6761),
    # so their pages are this machine's too, as the keyless Host check agrees
    "http://*.localhost:*",
    "https://*.localhost:*",
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])")
_PORT = re.compile(r"\*|[1-9][0-9]{0,4}")


class OriginPatternError(ValueError):
    """A pattern no browser's Origin could match as meant; the message says how to write it."""


def default_patterns(keyless: bool) -> tuple[str, ...]:
    """With keys, any site (keys authenticate, not cookies, as at api.openai.com);
    keyless, this machine's pages only: any site could otherwise spend its visitors'
    local gateway."""
    return LOOPBACK if keyless else (ANY,)


def _regex(pattern: str) -> str:
    """One pattern's expression; OriginPatternError when it is not one."""
    if pattern == "null":
        raise OriginPatternError(
            "'null' (sandboxed frames, file:// pages) is sent by pages of any site: "
            "it cannot be allowed on its own"
        )
    if pattern != pattern.strip() or pattern != pattern.lower():
        raise OriginPatternError("write it as browsers send it: lowercase, no spaces")
    scheme, sep, rest = pattern.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise OriginPatternError("expected scheme://host[:port], such as https://app.example.com")
    if any(c in rest for c in "/?#@"):
        raise OriginPatternError("an origin has no path, query or user (not even a trailing /)")
    host, port = rest, ""
    if not rest.endswith("]") and ":" in rest:
        host, _, port = rest.rpartition(":")
        if not _PORT.fullmatch(port) or (port != ANY and int(port) > 65535):
            raise OriginPatternError("the port must be 1..65535 or *")
        if _DEFAULT_PORTS.get(scheme) == port:
            raise OriginPatternError(f"browsers leave out {scheme}'s default port: drop ':{port}'")
    if not host.isascii():
        raise OriginPatternError(_punycode_hint(scheme, host, port))
    if not _HOST.fullmatch(host) or host.startswith("*.["):
        raise OriginPatternError("the host must be a name, an IP address or *.domain")
    out = re.escape(f"{scheme}://")
    if host.startswith("*."):
        out += r"(?:[a-z0-9-]+\.)+"
        host = host[2:]
    out += re.escape(host)
    if port == ANY:
        return out + r"(?::[0-9]{1,5})?"
    return out + (re.escape(":" + port) if port else "")


def _punycode_hint(scheme: str, host: str, port: str) -> str:
    """Browsers send an international name in its ASCII form (punycode): say which."""
    wild, name = ("*.", host[2:]) if host.startswith("*.") else ("", host)
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return "the host must be a name, an IP address or *.domain"
    suggested = f"{scheme}://{wild}{ascii_name}" + (f":{port}" if port else "")
    return f"browsers send an international name in punycode: write '{suggested}'"


def compile_patterns(patterns: Sequence[str]) -> re.Pattern[bytes] | None:
    """None: any origin (`*`); else the expression an allowed Origin fully matches
    (never matched when `patterns` is empty: no browser is let in)."""
    if ANY in patterns:
        if len(patterns) > 1:
            raise OriginPatternError("'*' allows every origin: list it alone")
        return None
    parts = []
    for pattern in patterns:
        try:
            parts.append(_regex(pattern))
        except OriginPatternError as exc:
            raise OriginPatternError(f"'{pattern}': {exc}") from None
    return re.compile(("|".join(parts) or r"(?!)").encode())


def describe(patterns: Sequence[str] | None, keyless: bool) -> str:
    """`serve`'s start-up line about browsers."""
    if patterns is None:
        patterns = default_patterns(keyless)
    if ANY in patterns:
        return "pages of ANY site may use this keyless gateway" if keyless else "pages of any site"
    if not patterns:
        return "no web page (cors_allow_origins = [])"
    if tuple(patterns) == LOOPBACK:
        return "pages served from this machine (localhost, *.localhost, 127.0.0.1, [::1], any port)"
    return "pages of " + ", ".join(patterns)
