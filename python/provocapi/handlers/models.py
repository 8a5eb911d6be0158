"""GET /v1/models and GET /v1/models/{id}: what the caller's tenant may use.

Beside OpenAI's fields (`id`, `object`, `created`, `owned_by`), each entry is a
model card a client can size its requests by: `context_length`,
`max_output_tokens` (generation models), `capabilities`, `aliases`, for
embedding models `dimensions` and `min_dimensions`, and for an adapter
(`base:name`) its `base_model`. The SDKs keep unknown fields as extras.
"""

from __future__ import annotations

from ..asgi import Request
from ..config import ModelConfig
from ..error_catalog import model_not_found
from ..gateway import Gateway
from ..keys import KeyRecord

# A fixed creation time: the catalogue has no history, and a stable value keeps
# responses cacheable and comparable between replicas.
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def _card(m: ModelConfig) -> dict[str, object]:
    """What the config says of the model, as the list and retrieve show it."""
    caps = m.capabilities
    card: dict[str, object] = {
        "context_length": m.context_length,
        "capabilities": {
            "tools": caps.tools,
            "json_object": caps.json_mode,
            "json_schema": caps.json_schema,
            "logprobs": caps.logprobs,
        },
        "aliases": list(m.aliases),
    }
    if m.kind == "embedding":
        card["dimensions"] = m.dimensions
        # the `dimensions` a request may ask for: min_dimensions..dimensions
        card["min_dimensions"] = m.min_dimensions if m.min_dimensions is not None else m.dimensions
    else:
        card["max_output_tokens"] = m.max_output_tokens
    return card


def _model_obj(name: str, m: ModelConfig) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "provocapi", **_card(m)}


def _adapter_objs(gw: Gateway, key: KeyRecord) -> list[dict[str, object]]:
    """The operator's adapters and the tenant's ready ones as `base:name`, as OpenAI
    lists fine-tuned models."""
    allowed = gw.catalog.allowed(key)
    models = {m.id: m for m in gw.catalog.cfg.models if m.id in allowed}
    config = gw.config_adapters
    entries = [
        (base, name, "provocapi") for base in models for name in config.names(base, key.tenant)
    ]
    operators = {(base, name) for base, name, _ in entries}  # resolved first: they win
    entries += [
        (a.model_id, a.name, key.tenant)
        for a in gw.stored_adapters.of_tenant(key.tenant)
        if a.model_id in models and (a.model_id, a.name) not in operators
    ]
    return [
        {
            "id": f"{base}:{name}",
            "object": "model",
            "created": _CREATED,
            "owned_by": owner,
            "base_model": base,
            **_card(models[base]),
            "aliases": [],
        }
        for base, name, owner in entries
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
