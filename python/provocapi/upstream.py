"""The HTTP clients to the workers, one set per process.

Calls go through `http1.Client` (pooled keep-alive connections, httptools): the
upstream client sets the order of magnitude of the gateway's cost, and aiohttp's
measured about 40% of it per proxied request (httpx's about ten times aiohttp's,
shared/design/PERFORMANCE.md). Health probes and /metrics polls, a few per
second, use an aiohttp session (`session`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import aiohttp
import orjson

from .error_catalog import (
    NO_HEALTHY_WORKER,
    UPSTREAM_ERROR,
    UPSTREAM_REJECTED,
    UPSTREAM_TIMEOUT,
    WORKER_OVERLOADED,
)
from .errors import ApiError
from .http1 import BadHttp, Client, Response, UpstreamClosed, UpstreamTimeout

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "*/*"}

log = logging.getLogger("provocapi.upstream")


class Upstream:
    def __init__(self, connect_timeout_s: float) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self.client = Client(connect_timeout_s)

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily inside the running loop (Granian starts the loop).
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,  # the worker's own queue decides; routing caps concurrency
                keepalive_timeout=60,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                skip_auto_headers=("User-Agent",),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        self.client.close()
        if self._session is not None:
            await self._session.close()

    async def post(
        self, url: str, body: bytes, timeout_s: float, headers: dict[str, str] | None = None
    ) -> Response:
        """POST and return the response once its headers arrived (body unread).

        Every failure is an ApiError (502, 503 or 504), never the app's 500: an
        exception the client does not name (the event loop's transports raise their
        own) is logged with its traceback and answered as the worker's failure."""
        try:
            return await self.client.post(url, body, timeout_s, headers)
        except Exception as exc:
            raise post_failed(url, exc) from None


def post_failed(url: str, exc: Exception) -> ApiError:
    """The ApiError of a failed `Client.post` (called in its except clause: an unexpected
    failure is logged with its traceback)."""
    if isinstance(exc, (TimeoutError, UpstreamTimeout)):
        return upstream_timeout()
    if isinstance(exc, (UpstreamClosed, BadHttp)):
        return bad_gateway(f"the worker failed before answering ({exc})")
    if isinstance(exc, OSError):
        return NO_HEALTHY_WORKER.build(what=f"this model ({exc.strerror or exc})")
    where = urlsplit(url)  # the host alone: a URL may carry credentials
    log.exception("a request to %s:%s failed unexpectedly", where.hostname, where.port)
    return bad_gateway(f"the worker could not be reached ({type(exc).__name__})")


def upstream_timeout() -> ApiError:
    return UPSTREAM_TIMEOUT.build()


def bad_gateway(detail: str) -> ApiError:
    return UPSTREAM_ERROR.build(detail=detail)


async def read_body(resp: Response) -> bytes:
    """The whole body (the connection goes back to its pool)."""
    try:
        return await resp.read()
    except UpstreamTimeout:
        raise upstream_timeout() from None
    except (UpstreamClosed, BadHttp) as exc:
        raise bad_gateway(f"the worker's answer was cut ({exc})") from None


def worker_error(status: int, body: bytes) -> ApiError:
    """A worker's non-2xx answer as the client should see it."""
    message = _worker_message(body) or f"the worker answered HTTP {status}"
    if status == 429:
        # The worker's queue is full: another attempt soon may succeed.
        return WORKER_OVERLOADED.build(detail=message)
    if 400 <= status < 500:
        return UPSTREAM_REJECTED.build(message=message, status=status)
    return bad_gateway(f"the worker answered HTTP {status}: {message}")


def _worker_message(body: bytes) -> str | None:
    # trtllm-serve errors are flat ({"object": "error", "message": ...});
    # OpenAI-compatible providers use {"error": {"message": ...}}.
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):  # trtllm's request-validation failures
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
        if isinstance(data.get("detail"), str):
            return data["detail"]
    return None
