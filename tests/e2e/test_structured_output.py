"""Structured output through the official SDK: parse() with Pydantic models, streamed and not,
refused by name where the model's config lacks it, and what a client sees when a worker
does not enforce the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import openai
import pydantic
import pytest
from harness.gateway import Gateway
from harness.sims import start_sim_proc
from provocapi.netutil import free_port

from .conftest import CHAT_FAMILIES

PLAIN_MODEL = "llama-3.1-70b-instruct"  # json_mode only: no json_schema capability
ASK = [{"role": "user", "content": "Describe a user account."}]


class Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(min_length=5, max_length=5)


class Account(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=18, le=99)
    role: Literal["admin", "member"]
    tags: list[str]
    home: Address
    previous: Address | None


FAMILIES = sorted(CHAT_FAMILIES.items())


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_parse_gives_the_model(client: openai.OpenAI, family: str, model: str) -> None:
    for parse in (client.chat.completions.parse, client.beta.chat.completions.parse):
        resp = parse(model=model, messages=ASK, response_format=Account, max_tokens=300)
        choice = resp.choices[0]
        assert choice.finish_reason == "stop", family
        assert isinstance(choice.message.parsed, Account), f"{family}: {choice.message.content}"
        assert not choice.message.tool_calls


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_streamed_parse_gives_the_model(client: openai.OpenAI, family: str, model: str) -> None:
    deltas = 0
    with client.chat.completions.stream(
        model=model, messages=ASK, response_format=Account, max_tokens=300
    ) as stream:
        for event in stream:
            deltas += event.type == "content.delta"
        final = stream.get_final_completion()
    assert deltas > 1, family
    assert isinstance(final.choices[0].message.parsed, Account), family


def test_json_schema_needs_its_capability(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(
                model=PLAIN_MODEL,
                messages=ASK,
                max_tokens=8,
                stream=stream,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": Account.model_json_schema()},
                },
            )
        body: Any = exc.value.body
        assert (body["code"], body["param"]) == ("unsupported_parameter", "response_format")
    # JSON mode is its own capability, which this model has
    resp = client.chat.completions.create(
        model=PLAIN_MODEL, messages=ASK, max_tokens=40, response_format={"type": "json_object"}
    )
    assert resp.choices[0].message.content


def test_a_json_schema_without_name_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model=CHAT_FAMILIES["llama3"],
            messages=ASK,
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"schema": {}}},
        )
    body: Any = exc.value.body
    assert body["param"] == "response_format.json_schema.name"


@pytest.fixture(scope="module")
def unguided(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    """A gateway over a worker that does not enforce schemas (sim --invalid-json)."""
    root: Path = tmp_path_factory.mktemp("unguided")
    port = free_port()
    sim = start_sim_proc("llama-3.1-8b-instruct", port, root, "--invalid-json", "--seed", "3")
    gw = Gateway(
        root / "gw",
        f"""\
        [[models]]
        id = "llama-3.1-8b-instruct"
        kind = "chat"
        family = "llama3"
        workers = ["http://127.0.0.1:{port}"]
        capabilities = {{ json_mode = true, json_schema = true }}
        """,
        workers=1,
        name="gw-unguided",
    )
    try:
        key = gw.create_key("t")
        gw.start()
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as client:
            yield client
    finally:
        gw.stop()
        sim.stop()


def test_unenforced_schema_fails_parse(unguided: openai.OpenAI) -> None:
    """Without guided decoding the answer breaks the schema: parse() raises, streamed too."""
    kw: dict[str, Any] = {
        "model": "llama-3.1-8b-instruct",
        "messages": ASK,
        "response_format": Account,
        "max_tokens": 300,
    }
    with pytest.raises(pydantic.ValidationError):
        unguided.chat.completions.parse(**kw)
    with pytest.raises(pydantic.ValidationError):
        with unguided.chat.completions.stream(**kw) as stream:
            for _ in stream:
                pass
    # the raw answer is what the worker wrote, relayed as is
    resp = unguided.chat.completions.create(
        model="llama-3.1-8b-instruct",
        messages=ASK,
        max_tokens=300,
        response_format={"type": "json_object"},
    )
    assert resp.choices[0].message.content and not resp.choices[0].message.content.startswith("{")
