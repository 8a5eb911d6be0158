"""The baseline of the performance floor: a minimal pass-through proxy.

Granian (ASGI, uvloop, HTTP/1) + one shared keep-alive aiohttp `ClientSession`, created lazily
inside the worker's running loop. The request body is forwarded unparsed to the same path on
the upstream; the answer is returned as is: a whole body with its Content-Type, or, for
`text/event-stream`, relayed chunk by chunk as it arrives. No auth, no parsing, no accounting:
it is the cost of moving the bytes through Python, which a gateway cannot go below.

    .venv/bin/python bench/baseline_proxy.py --upstream http://127.0.0.1:9001 --port 9002

Granian runs with the flags of `provocapi serve` (provocapi/launcher.py): one worker, uvloop,
http1, no access log, backlog 2048.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UPSTREAM_ENV = "BASELINE_UPSTREAM"
_FORWARD_HEADERS = {"Content-Type": "application/json", "Accept": "*/*"}


class PassThrough:
    """The ASGI app: read the body, POST/GET it upstream, hand the answer back."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=None),
                skip_auto_headers=("User-Agent",),
                auto_decompress=False,
            )
        return self._session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    if self._session is not None:
                        await self._session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        url = self.upstream + scope["path"]
        async with self.session.request(
            scope["method"], url, data=body or None, headers=_FORWARD_HEADERS
        ) as resp:
            ctype = resp.headers.get("Content-Type", "application/json").encode()
            if ctype.startswith(b"text/event-stream"):
                await send(
                    {
                        "type": "http.response.start",
                        "status": resp.status,
                        "headers": [(b"content-type", ctype), (b"cache-control", b"no-cache")],
                    }
                )
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            data = await resp.read()
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [
                        (b"content-type", ctype),
                        (b"content-length", str(len(data)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": data})


def create_app() -> PassThrough:
    """Granian's factory: the upstream comes through the environment."""
    return PassThrough(os.environ[UPSTREAM_ENV])


def main() -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9001")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9002)
    p.add_argument("--workers", type=int, default=1, help="Granian workers (processes)")
    args = p.parse_args()
    os.environ[UPSTREAM_ENV] = args.upstream
    Granian(
        "baseline_proxy:create_app",
        factory=True,
        working_dir=Path(__file__).resolve().parent,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        log_access=False,
        backlog=2048,
    ).serve()


if __name__ == "__main__":
    main()
