"""A small HTTP/1.1 client for the request path: keep-alive POSTs to workers.

aiohttp's client was about 40% of the gateway's CPU per proxied request (its
request and response objects, timers, cookie and redirect handling, none of
which a worker needs). This client does only what proxying needs: pooled
keep-alive connections, one write per request, httptools parsing, a deadline.
Health probes and the ClickHouse store keep using aiohttp.
"""

from .connection import BadHttp, Response, UpstreamClosed, UpstreamTimeout
from .pool import Client

__all__ = ["BadHttp", "Client", "Response", "UpstreamClosed", "UpstreamTimeout"]
