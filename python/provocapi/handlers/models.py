"""GET /v1/models and GET /v1/models/{id}: what the caller's tenant may use."""

from __future__ import annotations

from ..asgi import Request
from ..config import ModelConfig
from ..error_catalog import model_not_found
from ..gateway import Gateway

# A fixed creation time: the catalogue has no history, and a stable value keeps
# responses cacheable and comparable between replicas.
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def _model_obj(name: str, m: ModelConfig) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "provocapi"}


async def list_models(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    data = [_model_obj(name, m) for name, m in gw.catalog.visible_names(key)]
    await req.respond_json(200, {"object": "list", "data": data})
    return "-"


async def retrieve_model(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    name = req.path[len("/v1/models/") :]
    for visible, m in gw.catalog.visible_names(key):
        if visible == name:
            await req.respond_json(200, _model_obj(name, m))
            return m.id
    raise model_not_found(name)
