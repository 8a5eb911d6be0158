"""CORS: web pages calling the API from a browser (the `openai` JS SDK with
`dangerouslyAllowBrowser`), as api.openai.com lets them.

Only a request with an `Origin` header comes here (a server-side call sends
none, and finding that costs it nothing measurable: bench/test_cors_bench.py).
An origin the policy
(`[server] cors_allow_origins`, cors_origins.py) refuses gets a 403 before any
handler runs, preflight or not: a page of another site can then neither read
an answer nor spend a keyless gateway with a "simple" request the browser sends
without asking. An allowed one has every answer, errors and streams included,
readable by the page, with the gateway's own headers exposed.
"""

from __future__ import annotations

from collections.abc import Sequence

from .asgi import TWO_ORIGINS, Headers, Request
from .config import ServerConfig
from .cors_headers import TOKEN, header_names
from .cors_origins import compile_patterns, default_patterns
from .error_catalog import ORIGIN_NOT_ALLOWED
from .errors import ApiError, quote

ALLOW_ORIGIN = b"access-control-allow-origin"
VARY_ORIGIN = (b"vary", b"Origin")
# what a page may read besides the CORS-safelisted headers: ids, routing, retry advice
# (the SDKs' retry loop reads x-should-retry and retry-after-ms) and rate limits
EXPOSED = (
    "x-request-id",
    "x-provocapi-model",
    "x-provocapi-worker",
    "x-provocapi-queue-ms",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "allow",
)
EXPOSE = (b"access-control-expose-headers", ", ".join(EXPOSED).encode())
# request headers a page may send: what the OpenAI SDKs send, and what the gateway reads
ALLOWED_HEADERS = frozenset(
    {
        b"authorization",
        b"content-type",
        b"accept",
        b"openai-organization",
        b"openai-project",
        b"openai-beta",
        b"idempotency-key",
        b"x-request-id",
    }
)
SDK_HEADER_PREFIX = b"x-stainless-"  # the SDKs' platform, retry-count and timeout headers
# the methods any route takes: the preflight of a path no route has lets its call through
# to the 404 that names the mistake, rather than a bare network error in the page
ANY_ROUTE_METHODS = ("GET", "HEAD", "POST", "DELETE")
MAX_AGE_S = 7200  # how long a browser may reuse a preflight (Chromium caps it at 2 hours)
_PREFLIGHT = b"access-control-request-method"
_REQUESTED = b"access-control-request-headers"
# Chromium's Private Network Access: a public site's page calling a private address
_PRIVATE_ASKED = b"access-control-request-private-network"
_PRIVATE_ALLOWED = (b"access-control-allow-private-network", b"true")
_ANYONE = ((ALLOW_ORIGIN, b"*"), EXPOSE)
_LISTED = "the gateway's operator can add it to [server] cors_allow_origins."
# cors_origins.py refuses to list it: pages of any site send it
_NULL = (
    "'null' is sent by sandboxed frames and file:// pages of any site, so no gateway "
    "setting allows it: serve the page from an http(s) origin."
)


class Cors:
    """The policy of `[server]`, fixed at start-up as the rest of `[server]` is."""

    __slots__ = ("allowed", "headers", "private_network")

    def __init__(self, server: ServerConfig) -> None:
        keyless = server.auth == "none"
        patterns = server.cors_allow_origins
        if patterns is None:
            patterns = list(default_patterns(keyless=keyless))
        self.allowed = compile_patterns(patterns)  # None: any origin
        self.headers = ALLOWED_HEADERS | header_names(server.cors_allow_headers)
        # keyless, only the origin stands between a public site and the workers: PNA's
        # own case (docs/config.md); with keys a key authenticates, as on a public address
        self.private_network = not keyless

    def admit(self, req: Request, origin: bytes) -> None:
        """A page of `origin` calls: its answer is made readable there, or 403."""
        if self.allowed is None:  # the same for every page: no Vary, nothing depends on it
            req.extra_headers.extend(_ANYONE)
        elif self.allowed.fullmatch(origin):
            req.extra_headers.extend(((ALLOW_ORIGIN, origin), VARY_ORIGIN, EXPOSE))
        else:
            raise _refusal(origin)

    async def options(self, req: Request, methods: Sequence[str] | None) -> None:
        """OPTIONS on a path (`methods` None: no route has it, a preflight only). A
        preflight is told what the call may use; a plain OPTIONS (RFC 9110 9.3.7) gets
        the path's methods in Allow."""
        if methods is None or is_preflight(req):
            await req.reply.respond(204, b"", self._preflight(req, methods), None)
        else:
            allow = ", ".join([*methods, "OPTIONS"]).encode()
            await req.reply.respond(204, b"", [(b"allow", allow)], None)

    def _preflight(self, req: Request, methods: Sequence[str] | None) -> Headers:
        method, requested, private = b"", b"", False
        for name, value in req.scope["headers"]:
            if name == _PREFLIGHT:
                method = value
            elif name == _REQUESTED:
                requested = value
            elif name == _PRIVATE_ASKED:
                private = value.strip().lower() == b"true"
        takes = ANY_ROUTE_METHODS if methods is None else methods
        listed = ", ".join(takes).encode()
        # a method the path does not take is allowed too, after the path's own: the call
        # then gets the 405 naming them (or the 404), readable by the page, where a
        # refused preflight is a bare network error ("Connection error." in the SDK)
        if TOKEN.fullmatch(method) and method.decode() not in takes:
            listed += b", " + method
        out = [
            (b"access-control-allow-methods", listed),
            (b"access-control-max-age", str(MAX_AGE_S).encode()),
        ]
        if requested:
            # only those it may send: the browser refuses the call if one it needs is missing
            names = [n.strip().lower() for n in requested.split(b",")]
            allowed = [n for n in names if n in self.headers or n.startswith(SDK_HEADER_PREFIX)]
            if allowed:
                out.append((b"access-control-allow-headers", b", ".join(allowed)))
        if private and self.private_network:
            out.append(_PRIVATE_ALLOWED)
        return out


def _refusal(origin: bytes) -> ApiError:
    """The 403, with what would let the page in: the list, unless no list could."""
    shown, remedy = quote(origin.decode("latin-1")), _LISTED
    if origin == TWO_ORIGINS:
        shown, remedy = "(two Origin headers)", "a request carries one Origin header."
    elif origin == b"null":
        remedy = _NULL
    return ORIGIN_NOT_ALLOWED.build(origin=shown, remedy=remedy, headers=[VARY_ORIGIN])


def is_preflight(req: Request) -> bool:
    """CORS's preflight: OPTIONS from a page, naming the method it means to use."""
    return (
        req.method == "OPTIONS"
        and req.origin is not None
        and any(name == _PREFLIGHT for name, _ in req.scope["headers"])
    )
