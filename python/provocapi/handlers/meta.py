"""GET /health, /health/ready, /metrics and /openapi.json (no key needed)."""

from __future__ import annotations

import orjson

from ..asgi import Request
from ..error_catalog import model_not_found
from ..gateway import Gateway
from ..health import is_draining, requested_models
from ..openapi import document

PROMETHEUS_CT = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")

# (the config it was made for, the document): made again after a reload
_openapi_cache: tuple[object, bytes] | None = None


def _models(gw: Gateway) -> dict[str, dict[str, int]]:
    return {
        model_id: {"ready_workers": pool.ready(), "workers": len(pool.workers)}
        for model_id, pool in gw.router.pools.items()
    }


async def health(gw: Gateway, req: Request) -> str:
    """200 while this process serves: liveness, with each model's workers."""
    await req.respond(200, orjson.dumps({"status": "ok", "models": _models(gw)}))
    return "-"


async def ready(gw: Gateway, req: Request) -> str:
    """503 while draining or when a named model has no ready worker, else 200."""
    names = requested_models(req.scope.get("query_string", b""))
    models = _models(gw)
    wanted: list[str] = []
    for name in names:
        m = gw.catalog.by_name.get(name)
        if m is None:
            raise model_not_found(name)
        wanted.append(m.id)
    unready = [i for i in dict.fromkeys(wanted) if models[i]["ready_workers"] == 0]
    draining = is_draining(gw.state)
    body: dict[str, object] = {
        "status": "draining" if draining else ("unready" if unready else "ready"),
        "models": {i: models[i] for i in dict.fromkeys(wanted)} if wanted else models,
    }
    if unready:
        body["unready_models"] = unready
    # a probe's answer, not a refused API call: the same body shape either way
    await req.respond(503 if draining or unready else 200, orjson.dumps(body))
    return "-"


async def metrics(gw: Gateway, req: Request) -> str:
    text = gw.telemetry.render().encode()
    await req.reply.respond(200, text, content_type=PROMETHEUS_CT)
    return "-"


async def openapi(gw: Gateway, req: Request) -> str:
    global _openapi_cache
    cfg = gw.catalog.cfg
    if _openapi_cache is None or _openapi_cache[0] is not cfg:
        _openapi_cache = (cfg, document(cfg.models))
    await req.respond(200, _openapi_cache[1])
    return "-"
