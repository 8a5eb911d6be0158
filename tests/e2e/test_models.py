"""/v1/models: the tenant's models and their aliases, retrieve by id or alias."""

from __future__ import annotations

import openai
import pytest

from .conftest import ACME_ALIASES, ACME_MODELS, ALL_MODELS


def test_list_models_main_tenant(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    ids = {m.id for m in models}
    assert set(ALL_MODELS) <= ids
    assert {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"} <= ids
    for m in models:
        assert m.object == "model"
        assert m.owned_by == "provocapi"
        assert isinstance(m.created, int)
    assert len(ids) == len(models), "a model is listed twice"


def test_list_models_restricted_tenant(acme: openai.OpenAI) -> None:
    ids = {m.id for m in acme.models.list()}
    assert ids == set(ACME_MODELS) | set(ACME_ALIASES)


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
