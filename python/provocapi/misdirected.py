"""A path that is one of ours, misdirected by the client's base_url.

The most common setup mistake with an OpenAI-compatible server: a base_url that
already holds the endpoint (`.../v1/chat/completions`, so the SDK posts to
`/v1/chat/completions/chat/completions`), one without `/v1` (`/chat/completions`),
or a trailing slash. Each stays a 404 `unknown_url`, as OpenAI answers, but the
message names the endpoint meant and where base_url should end, instead of a bare
"Invalid URL" (or, for the doubled path, the stored-completions refusal its
`/v1/chat/completions/` prefix would otherwise get).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .error_catalog import MISDIRECTED_URL
from .errors import ApiError, quote

API = "/v1"


def endpoints(routes: Mapping[str, Iterable[str]]) -> list[tuple[str, str, str]]:
    """(tail, path, method) of every API endpoint among `routes` (path → its methods),
    the longest tails first, so `/chat/completions` is tried before `/completions`."""
    found = [
        (path.removeprefix(API), path, method)
        for path, methods in routes.items()
        if path.startswith(API + "/")
        for method in methods
    ]
    return sorted(found, key=lambda e: len(e[0]), reverse=True)


def misdirected(method: str, path: str, known: Sequence[tuple[str, str, str]]) -> ApiError | None:
    """The 404 for `method path` that means one of `known`; None for any other."""
    trimmed = path.rstrip("/")
    for tail, served, takes in known:
        if method != takes or path == served:
            continue
        if trimmed == served:
            return _built(method, path, served, ", without the trailing slash")
        if trimmed.endswith(tail):
            why = (
                f"; a client's base_url ends at {API} (e.g. OpenAI(base_url="
                f'"http://HOST:PORT{API}")), without the endpoint\'s own path'
            )
            return _built(method, path, served, why)
    return None


def _built(method: str, path: str, served: str, why: str) -> ApiError:
    return MISDIRECTED_URL.build(method=quote(method), path=quote(path), served=served, why=why)
