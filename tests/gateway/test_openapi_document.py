"""/openapi.json is generated from the catalogue and OpenAI's extracted schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from harness.scripts import load_script
from provocapi import error_catalog, route_errors
from provocapi.app import PREFIX_DOCUMENTED, PREFIX_ROUTES, ROUTES
from provocapi.config import ModelConfig
from provocapi.errors import ErrorSpec
from provocapi.openapi import document

ROOT = Path(__file__).resolve().parents[2]
# answered outside any documented route (an unknown URL, an API we do not serve),
# and 500, which no client input provokes; and the answers to browser pages (cors.py),
# which SDK clients never see
NOT_PER_ROUTE = {
    "UNKNOWN_URL",
    "MISDIRECTED_URL",  # a path of no route (misdirected.py)
    "API_NOT_PROVIDED",
    "INTERNAL_ERROR",
    "ORIGIN_NOT_ALLOWED",
    "NOT_FOR_BROWSERS",
    "HOST_NOT_LOCAL",  # keyless mode only (tests/launcher/test_no_auth.py)
}


def _extract_script() -> Any:
    return load_script("scripts/extract_openai_schemas.py", "extract_openai_schemas")


def test_shipped_extract_is_what_the_script_makes_from_the_vendored_spec() -> None:
    script = _extract_script()
    fresh = script.extract((ROOT / "tests/contract/openai-openapi.yaml").read_bytes())
    shipped = (ROOT / "python/provocapi/openapi_components.json").read_bytes()
    assert shipped == fresh, "run scripts/extract_openai_schemas.py"
    assert set(script.WANTED) <= set(orjson.loads(shipped)["schemas"])


def test_every_route_declares_its_errors() -> None:
    served = {(p, m) for p, methods in ROUTES.items() for m in methods}
    for prefix, methods in PREFIX_ROUTES:
        pairs = PREFIX_DOCUMENTED[prefix]
        assert {m for _, m in pairs} == set(methods), prefix
        served |= set(pairs)
    assert served == set(route_errors.ROUTE_ERRORS)
    doc = orjson.loads(document())
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    assert documented == served


def test_every_catalogue_entry_is_declared_by_a_route() -> None:
    entries = {n for n, v in vars(error_catalog).items() if isinstance(v, ErrorSpec)}
    declared = {s for specs in route_errors.ROUTE_ERRORS.values() for s in specs}
    used = {n for n in entries if getattr(error_catalog, n) in declared}
    assert entries - used == NOT_PER_ROUTE


def test_statuses_come_from_the_declared_entries() -> None:
    doc = orjson.loads(document())
    for (path, method), specs in route_errors.ROUTE_ERRORS.items():
        responses = doc["paths"][path][method.lower()]["responses"]
        want = {str(s) for spec in specs for s in spec.statuses}
        errors = {code for code in responses if code >= "400"}
        extra = {"503"} if path == "/health/ready" else set()  # a probe's own answer
        assert errors == want | extra, path
        for status in want:
            text = responses[status]["description"]
            for spec in specs:
                if int(status) in spec.statuses:
                    assert f"`{spec.code}`" in text


def test_every_ref_resolves() -> None:
    doc = orjson.loads(document())
    schemas = doc["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/components/schemas/"), ref
                assert ref.rsplit("/", 1)[1] in schemas, ref
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    ok = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/CreateChatCompletionResponse")
    err = doc["paths"]["/v1/models"]["get"]["responses"]["401"]["content"]
    assert err["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def _served() -> list[ModelConfig]:
    return [
        ModelConfig(id="chat-a", kind="chat", aliases=["gpt-x"], max_output_tokens=64),
        ModelConfig(id="chat-b", kind="chat", max_output_tokens=32),
        ModelConfig(id="emb", kind="embedding", dimensions=768, min_dimensions=64),
    ]


def test_model_fields_list_what_the_gateway_serves() -> None:
    schemas = orjson.loads(document(_served()))["components"]["schemas"]
    assert schemas["ChatRequest"]["properties"]["model"]["enum"] == ["chat-a", "gpt-x", "chat-b"]
    assert schemas["CompletionRequest"]["properties"]["model"]["enum"][0] == "chat-a"
    assert schemas["EmbeddingRequest"]["properties"]["model"]["enum"] == ["emb"]
    assert schemas["ChatModelName"]["enum"] == ["chat-a", "gpt-x", "chat-b"]
    # max_tokens within every chat model's cap; unsupported fields are not offered
    max_tokens = schemas["ChatRequest"]["properties"]["max_tokens"]["anyOf"][0]
    assert (max_tokens["minimum"], max_tokens["maximum"]) == (1, 32)
    assert "audio" not in schemas["ChatRequest"]["properties"]


def test_an_embedding_input_is_documented_as_never_empty() -> None:
    """The gateway refuses "" as an input (OpenAI does): the document must not offer it."""
    schemas = orjson.loads(document(_served()))["components"]["schemas"]
    text, texts = schemas["EmbeddingRequest"]["properties"]["input"]["anyOf"][:2]
    assert text["minLength"] == 1
    assert texts["items"]["minLength"] == 1


def test_best_of_is_documented_only_where_the_gateway_takes_it() -> None:
    """best_of must be at least n and is not streamed: the document offers it with n 1
    and without stream, so no request it calls valid is refused."""
    schemas = orjson.loads(document(_served()))["components"]["schemas"]
    rules = schemas["CompletionRequest"]["allOf"]
    best_of = next(r for r in rules if r["if"]["required"] == ["best_of"])
    assert best_of["then"]["properties"] == {
        "n": {"enum": [1, None]},
        "stream": {"enum": [False, None]},
    }


def test_links_name_operations_that_exist() -> None:
    doc = orjson.loads(document(_served()))
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    linked = 0
    for ops in doc["paths"].values():
        for op in ops.values():
            for link in op["responses"]["200"].get("links", {}).values():
                assert link["operationId"] in ids
                linked += 1
    assert linked >= 12


def test_the_served_document_follows_a_reload() -> None:
    """meta.openapi makes the document again when the config object changes."""
    import asyncio

    from provocapi.handlers import meta

    class Req:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        async def respond(self, status: int, body: bytes) -> None:
            self.sent.append(body)

    class Catalog:
        def __init__(self, models: list[ModelConfig]) -> None:
            self.cfg = type("Cfg", (), {"models": models})()

    class Gw:
        catalog = Catalog(_served()[:1])

    gw, req = Gw(), Req()
    asyncio.run(meta.openapi(gw, req))  # type: ignore[arg-type]
    gw.catalog = Catalog(_served())
    asyncio.run(meta.openapi(gw, req))  # type: ignore[arg-type]
    first, second = (orjson.loads(b)["components"]["schemas"] for b in req.sent)
    assert first["EmbeddingRequest"]["properties"]["model"] == {"type": "string"}
    assert second["EmbeddingRequest"]["properties"]["model"]["enum"] == ["emb"]


def test_the_model_object_declares_the_card_fields() -> None:
    model = orjson.loads(document())["components"]["schemas"]["Model"]
    props = model["properties"]
    for name in ("context_length", "max_output_tokens", "capabilities", "aliases", "base_model"):
        assert name in props, name
    assert set(props["capabilities"]["properties"]) == {
        "tools",
        "json_object",
        "json_schema",
        "logprobs",
    }
    assert set(model["required"]) <= {"id", "object", "created", "owned_by"}  # cards optional
