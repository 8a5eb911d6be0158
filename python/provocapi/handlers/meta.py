"""GET /health, GET /metrics and GET /openapi.json (no key needed)."""

from __future__ import annotations

from ..asgi import Request
from ..gateway import Gateway
from ..openapi import document

_openapi_cache: bytes | None = None


async def health(gw: Gateway, req: Request) -> str:
    await req.respond(200, b'{"status":"ok"}')
    return "-"


async def metrics(gw: Gateway, req: Request) -> str:
    text = gw.telemetry.render().encode()
    req.status = 200
    await req.send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                *req.extra_headers,
            ],
        }
    )
    await req.send({"type": "http.response.body", "body": text})
    return "-"


async def openapi(gw: Gateway, req: Request) -> str:
    global _openapi_cache
    if _openapi_cache is None:
        _openapi_cache = document()
    await req.respond(200, _openapi_cache)
    return "-"
