"""Keep-alive connection pools per worker address, and the POST that uses them.

The request head is built once per target (URL and extra headers); a request is
that head, its Content-Length and the body in one write. An idle connection is
reused newest first; one the worker closed while idle is noticed in the pool
(`connection_lost` marked it) or when the request is about to be written, which
then goes on another connection: the worker never saw it.

A request that was written is never sent again here, even when the connection
closes before a byte of the answer: the worker may have read it and started a
generation, and a second copy would run it twice (as standard HTTP clients, which
resend a POST only when it was not written). The close is the caller's failure
(502); routing may fail over to another worker (docs/config.md, Routing). Idle
connections are dropped before trtllm-serve's own keep-alive timeout so that a
worker closing an idle connection as a request arrives on it stays rare.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .connection import Connection, Response, UpstreamClosed

# An idle connection older than this is closed rather than reused: under trtllm-serve's
# keep-alive timeout (uvicorn's, TIMEOUT_KEEP_ALIVE = 5 s in tensorrt_llm/serve/
# openai_server.py), past which the worker closes it, maybe as our request arrives.
IDLE_MAX_S = 4.0
IDLE_MAX_PER_POOL = 1024


class HostPool:
    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.idle: list[Connection] = []

    def get(self) -> Connection | None:
        idle = self.idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_MAX_S:
                transport = conn.transport
                if transport is not None and not transport.is_closing():
                    return conn
            conn.close()
        return None

    def put(self, conn: Connection) -> None:
        if len(self.idle) >= IDLE_MAX_PER_POOL:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    async def connect(self, timeout_s: float) -> Connection:
        loop = asyncio.get_running_loop()
        make = loop.create_connection(
            lambda: Connection(self.put),
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=self.host if self.tls else None,
        )
        _, conn = await asyncio.wait_for(make, timeout_s)
        return conn

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


@dataclass(frozen=True, slots=True)
class Target:
    pool: HostPool
    head: bytes  # request line and headers, up to "Content-Length: "


class Client:
    def __init__(self, connect_timeout_s: float) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._pools: dict[tuple[str, str, int], HostPool] = {}
        self._targets: dict[object, Target] = {}
        self._tls: ssl.SSLContext | None = None

    def _target(self, url: str, headers: dict[str, str] | None) -> Target:
        key: object = (url, tuple(sorted(headers.items()))) if headers else url
        target = self._targets.get(key)
        if target is not None:
            return target
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        pool_key = (parts.scheme, parts.hostname, port)
        pool = self._pools.get(pool_key)
        if pool is None:
            if tls and self._tls is None:
                self._tls = ssl.create_default_context()
            pool = self._pools[pool_key] = HostPool(
                parts.hostname, port, self._tls if tls else None
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {parts.netloc.rpartition('@')[2]}",
            "Content-Type: application/json",
            "Accept: */*",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        target = self._targets[key] = Target(pool, head)
        return target

    async def post(
        self, url: str, body: bytes, timeout_s: float, headers: dict[str, str] | None = None
    ) -> Response:
        """POST; returns once the answer's headers arrived (its body is read from the Response).

        Raises OSError (no connection), TimeoutError (connecting took too long),
        UpstreamClosed, UpstreamTimeout or BadHttp (connection.py).
        """
        target = self._target(url, headers)
        data = b"%s%d\r\n\r\n%s" % (target.head, len(body), body)
        pool = target.pool
        conn = pool.get()
        # an idle connection knows its loop (no getpid() behind get_running_loop)
        loop = conn.loop if conn is not None else asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            fresh = conn is None
            if conn is None:
                wait = min(self.connect_timeout_s, max(0.001, deadline - loop.time()))
                conn = await pool.connect(wait)
            try:
                return await conn.send(data, deadline)
            except UpstreamClosed as exc:
                if fresh or exc.sent:
                    raise  # a fresh connection failing, or the worker may have the request
                # a kept-alive connection closed before the request was written on it
                conn = pool.get()
            except asyncio.CancelledError:
                conn.close()  # the worker sees the cancellation
                raise

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()
