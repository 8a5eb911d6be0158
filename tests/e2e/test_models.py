"""/v1/models: the tenant's models and their aliases, retrieve by id or alias."""

from __future__ import annotations

import openai
import pytest

from .conftest import (
    ACME_ALIASES,
    ACME_MODELS,
    ADAPTER,
    ALL_MODELS,
    GHOST_ADAPTER,
    MAX_OUTPUT_TOKENS,
)

# the operator's adapters of the stack (config, every tenant)
CONFIG_ADAPTERS = {f"llama-3.1-8b-instruct:{a}" for a in (ADAPTER, GHOST_ADAPTER)}


def test_list_models_main_tenant(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    ids = {m.id for m in models}
    assert set(ALL_MODELS) <= ids
    assert {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} <= ids
    assert CONFIG_ADAPTERS <= ids
    for m in models:
        assert m.object == "model"
        assert m.owned_by == "provocapi"
        assert isinstance(m.created, int)
    assert len(ids) == len(models), "a model is listed twice"


def test_list_models_restricted_tenant(acme: openai.OpenAI) -> None:
    ids = {m.id for m in acme.models.list()}
    assert ids == set(ACME_MODELS) | set(ACME_ALIASES) | CONFIG_ADAPTERS


@pytest.mark.parametrize("name", ["llama-3.1-8b-instruct", "gpt-4o-mini", "bge-m3"])
def test_retrieve_model(client: openai.OpenAI, name: str) -> None:
    m = client.models.retrieve(name)
    assert m.id == name
    assert m.object == "model"
    assert m.owned_by == "provocapi"


def test_retrieve_model_outside_tenant_is_404(acme: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        acme.models.retrieve("qwen-2.5-72b-instruct")
    assert isinstance(ei.value.body, dict)
    assert ei.value.body["code"] == "model_not_found"
    assert ei.value.body["param"] == "model"
    assert acme.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


def test_retrieve_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.models.retrieve("no-such-model")
    assert isinstance(ei.value.body, dict)
    assert ei.value.body["code"] == "model_not_found"


def test_model_cards_in_the_list_and_by_id(client: openai.OpenAI) -> None:
    cards = {m.id: m.model_dump() for m in client.models.list()}
    chat = cards["llama-3.1-8b-instruct"]
    assert chat["context_length"] == 131072
    assert chat["max_output_tokens"] == MAX_OUTPUT_TOKENS
    assert chat["capabilities"] == {
        "tools": True,
        "json_object": True,
        "json_schema": True,
        "logprobs": True,
    }
    big = cards["llama-3.1-70b-instruct"]["capabilities"]  # the stack leaves these off
    assert (big["json_schema"], big["logprobs"]) == (False, False)
    assert chat["aliases"] == ["gpt-4o-mini"]
    assert "dimensions" not in chat
    assert cards["gpt-4o-mini"]["context_length"] == 131072  # an alias has the same card
    fixed, ranged = cards["bge-m3"], cards["nomic-embed-v1.5"]
    assert (fixed["dimensions"], fixed["min_dimensions"]) == (1024, 1024)
    assert (ranged["dimensions"], ranged["min_dimensions"]) == (768, 64)
    assert "max_output_tokens" not in fixed
    assert fixed["capabilities"]["tools"] is False
    adapter = cards[f"llama-3.1-8b-instruct:{ADAPTER}"]
    assert adapter["base_model"] == "llama-3.1-8b-instruct"
    assert adapter["context_length"] == 131072
    for name in ("llama-3.1-8b-instruct", "nomic-embed-v1.5", f"llama-3.1-8b-instruct:{ADAPTER}"):
        assert client.models.retrieve(name).model_dump() == cards[name]


def test_the_sdk_exposes_card_fields_as_extras(client: openai.OpenAI) -> None:
    m = client.models.retrieve("mistral-small-3-24b")
    extra = m.model_extra or {}
    assert extra["context_length"] == 32768
    assert extra["capabilities"]["tools"] is True
