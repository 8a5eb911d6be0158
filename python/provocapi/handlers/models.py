"""GET /v1/models and GET /v1/models/{id}: what the caller's tenant may use."""

from __future__ import annotations

from ..asgi import Request
from ..config import ModelConfig
from ..error_catalog import model_not_found
from ..gateway import Gateway
from ..keys import KeyRecord

# A fixed creation time: the catalogue has no history, and a stable value keeps
# responses cacheable and comparable between replicas.
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def _model_obj(name: str, m: ModelConfig) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "provocapi"}


def _adapter_objs(gw: Gateway, key: KeyRecord) -> list[dict[str, object]]:
    """The tenant's ready adapters as `base:name`, as OpenAI lists fine-tuned models."""
    allowed = gw.catalog.allowed(key)
    return [
        {
            "id": f"{a.model_id}:{a.name}",
            "object": "model",
            "created": _CREATED,
            "owned_by": key.tenant,
        }
        for a in gw.stored_adapters.of_tenant(key.tenant)
        if a.model_id in allowed
    ]


async def list_models(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    data = [_model_obj(name, m) for name, m in gw.catalog.visible_names(key)]
    data.extend(_adapter_objs(gw, key))
    await req.respond_json(200, {"object": "list", "data": data})
    return "-"


async def retrieve_model(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    name = req.path[len("/v1/models/") :]
    for visible, m in gw.catalog.visible_names(key):
        if visible == name:
            await req.respond_json(200, _model_obj(name, m))
            return m.id
    for obj in _adapter_objs(gw, key):
        if obj["id"] == name:
            await req.respond_json(200, obj)
            return name.rpartition(":")[0]
    raise model_not_found(name)
