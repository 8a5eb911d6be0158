"""What reaches the worker: only fields its protocol accepts, checked first."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from provocapi import trtllm_protocol as trt
from provocapi.adapters import Adapter
from provocapi.catalog import Resolved
from provocapi.config import Capabilities, ModelConfig, SamplingDefaults
from provocapi.decoding import decode
from provocapi.errors import ApiError
from provocapi.request_policy import (
    CHAT_UNSUPPORTED,
    COMPLETION_UNSUPPORTED,
    DROPPED,
    plan_chat,
    plan_completion,
    plan_embedding,
)
from provocapi.schemas import ChatRequest, CompletionRequest, EmbeddingRequest

CHAT = ModelConfig(
    id="llama-3.1-8b-instruct",
    kind="chat",
    family="llama3",
    workers=["http://w"],
    upstream_model="Llama-3.1-8B-Instruct",
    max_output_tokens=4096,
    default_max_tokens=100,
    capabilities=Capabilities(tools=True, json_mode=True),
)
RES = Resolved(CHAT, None, CHAT.id)
MSGS = [{"role": "user", "content": "hi"}]


def chat(**fields: object) -> ChatRequest:
    return decode(orjson.dumps({"model": "gpt-4o-mini", "messages": MSGS, **fields}), ChatRequest)


def completion(**fields: object) -> CompletionRequest:
    return decode(orjson.dumps({"model": "m", "prompt": "p", **fields}), CompletionRequest)


def upstream(plan_body: bytes) -> dict[str, object]:
    out = orjson.loads(plan_body)
    assert isinstance(out, dict)
    return out


def test_every_forwarded_chat_field_is_one_the_worker_accepts() -> None:
    everything: dict[str, object] = {}
    for f in ChatRequest.__struct_fields__:
        if f in CHAT_UNSUPPORTED or f in ("model", "messages"):
            continue
        everything[f] = None
    body = upstream(plan_chat(chat(**everything), RES).body)
    assert set(body) <= trt.CHAT_COMPLETION_FIELDS, set(body) - trt.CHAT_COMPLETION_FIELDS


def test_forwarded_completion_fields_are_accepted_by_the_worker() -> None:
    fields = {
        f: None
        for f in CompletionRequest.__struct_fields__
        if f not in COMPLETION_UNSUPPORTED and f not in ("model", "prompt")
    }
    body = upstream(plan_completion(completion(**fields), RES).body)
    assert set(body) <= trt.COMPLETION_FIELDS


def test_unsupported_fields_are_exactly_those_outside_the_protocol() -> None:
    for f in CHAT_UNSUPPORTED:
        assert f not in trt.CHAT_COMPLETION_FIELDS and f not in DROPPED
    assert "audio" in CHAT_UNSUPPORTED and "modalities" in CHAT_UNSUPPORTED
    assert "top_k" not in CHAT_UNSUPPORTED


@pytest.mark.parametrize("field", ["audio", "modalities", "prediction", "functions"])
def test_a_field_the_worker_cannot_honour_is_a_400_naming_it(field: str) -> None:
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(**{field: {"x": 1}}), RES)
    assert exc.value.status == 400
    assert exc.value.code == "unsupported_parameter"
    assert exc.value.param == field


def test_text_only_modalities_are_accepted_and_not_forwarded() -> None:
    """`modalities: ["text"]` is OpenAI's default, which every worker answers: it was a
    400 for clients that spell it out. Audio output stays refused."""
    body = upstream(plan_chat(chat(modalities=["text"]), RES).body)
    assert "modalities" not in body
    for asked in (["text", "audio"], ["audio"], []):
        with pytest.raises(ApiError) as exc:
            plan_chat(chat(modalities=asked), RES)
        assert (exc.value.code, exc.value.param) == ("unsupported_parameter", "modalities")


def test_a_developer_message_reaches_the_worker_as_the_system_message() -> None:
    """OpenAI's chat models read `developer` as `system`; the workers' templates do not
    know it (Mistral's raises, Llama's and Qwen's render it as a turn of its own after
    their default system prompt). The request keeps the change: admission counts it."""
    req = chat(messages=[{"role": "developer", "content": "Be brief."}, *MSGS])
    body = upstream(plan_chat(req, RES).body)
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, *MSGS]
    assert req.messages[0]["role"] == "system"


def test_bookkeeping_fields_are_accepted_and_not_forwarded() -> None:
    body = upstream(
        plan_chat(chat(user="u", metadata={"a": "b"}, store=True, service_tier="auto"), RES).body
    )
    assert not DROPPED & set(body)


def test_model_max_tokens_and_usage_are_rewritten() -> None:
    body = upstream(plan_chat(chat(stream=True), RES).body)
    assert body["model"] == "Llama-3.1-8B-Instruct"
    assert body["stream_options"] == {"include_usage": True}
    max_key = (
        "max_completion_tokens"
        if "max_completion_tokens" in trt.CHAT_COMPLETION_FIELDS
        else "max_tokens"
    )
    assert body[max_key] == 100
    plain = upstream(plan_chat(chat(max_tokens=7), RES).body)
    assert "stream_options" not in plain
    assert plain[max_key] == 7


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": 4097}, "max_tokens"),
        ({"max_completion_tokens": 5000}, "max_completion_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tools": [{"type": "function"}]}, "tools[0]"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
    ],
)
def test_out_of_range_values_are_400(fields: dict[str, object], param: str) -> None:
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(**fields), RES)
    assert exc.value.status == 400
    assert exc.value.param == param


def test_bad_role_is_named() -> None:
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(messages=[{"role": "wizard", "content": "x"}]), RES)
    assert exc.value.param == "messages[0].role"


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def test_tool_parsing_only_when_tools_and_choice_not_none() -> None:
    p = plan_chat(chat(tools=TOOLS), RES)
    assert p.tool_family == "llama3" and p.tool_names == ["get_weather"]
    p = plan_chat(chat(tools=TOOLS, tool_choice="none"), RES)
    assert p.tool_family is None
    p = plan_chat(chat(response_format={"type": "json_object"}), RES)
    assert p.tool_family is None


JSON_CHAT = msgspec.structs.replace(
    CHAT, capabilities=Capabilities(tools=True, json_mode=True, json_schema=True)
)
SCHEMA = {"name": "s", "schema": {"type": "object"}}


NAMED = {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{**TOOLS[0], "x": 1}]}, "tools[0].x"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "x": 1}}]},
            "tools[0].function.x",
        ),
        ({"tools": TOOLS, "tool_choice": {**NAMED, "x": 1}}, "tool_choice.x"),
        (
            {"tools": TOOLS, "tool_choice": {**NAMED, "function": {"name": "get_weather", "x": 1}}},
            "tool_choice.function.x",
        ),
        ({"response_format": {"type": "text", "x": 1}}, "response_format.x"),
        ({"response_format": {"type": "json_object", "x": 1}}, "response_format.x"),
        (
            {"response_format": {"type": "json_schema", "json_schema": SCHEMA, "x": 1}},
            "response_format.x",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "x": 1}}},
            "response_format.json_schema.x",
        ),
    ],
)
def test_unknown_keys_in_nested_objects_are_named(fields: dict[str, object], param: str) -> None:
    """The worker refused these with a pydantic dump and no param (or, for a json_schema,
    never saw them): a 400 naming the key, as for an unknown top-level field."""
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(**fields), Resolved(JSON_CHAT, None, JSON_CHAT.id))
    assert exc.value.code == "unknown_parameter"
    assert exc.value.param == param
    assert exc.value.message == f"Unrecognized request argument supplied: {param}"


def test_openai_keys_of_nested_objects_are_forwarded() -> None:
    fn = {"name": "f", "description": "d", "parameters": {}, "strict": True}
    choice = {"type": "function", "function": {"name": "f"}}
    rf = {"type": "json_schema", "json_schema": {**SCHEMA, "description": "d", "strict": True}}
    plan = plan_chat(
        chat(tools=[{"type": "function", "function": fn}], tool_choice=choice, response_format=rf),
        Resolved(JSON_CHAT, None, JSON_CHAT.id),
    )
    body = upstream(plan.body)
    assert body["tools"] == [{"type": "function", "function": fn}]
    assert body["tool_choice"] == choice


@pytest.mark.parametrize("choice", [None, "auto", "none"])
def test_an_empty_tools_array_is_openai_s_empty_array(choice: str | None) -> None:
    """`tools: []` was forwarded: the worker's template wrapped the prompt in its tool
    preamble around no tool (56 more prompt tokens on the Llama simulator, billed).
    OpenAI answers 400 `empty_array` (vLLM matched it in PR 39780)."""
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(tools=[], tool_choice=choice), RES)
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "empty_array", "tools")


def test_parallel_tool_calls_false_asks_the_relay_for_one_call() -> None:
    assert plan_chat(chat(tools=TOOLS, parallel_tool_calls=False), RES).one_tool_call
    for allowed in (True, None):
        assert not plan_chat(chat(tools=TOOLS, parallel_tool_calls=allowed), RES).one_tool_call
    assert not plan_chat(chat(tools=TOOLS), RES).one_tool_call


def test_tools_on_a_model_without_them_are_unsupported() -> None:
    no_tools = msgspec.structs.replace(CHAT, capabilities=Capabilities())
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(tools=TOOLS), Resolved(no_tools, None, no_tools.id))
    assert exc.value.code == "unsupported_parameter" and exc.value.param == "tools"


def test_adapter_becomes_lora_request() -> None:
    ad = Adapter(CHAT.id, "sql", "/loras/sql", 7)
    body = upstream(plan_chat(chat(), Resolved(CHAT, ad, CHAT.id + ":sql")).body)
    assert body["lora_request"] == {"lora_name": "sql", "lora_int_id": 7, "lora_path": "/loras/sql"}


EMB = ModelConfig(
    id="nomic-embed-v1.5", kind="embedding", workers=["http://w"], dimensions=768, min_dimensions=64
)
BGE = ModelConfig(id="bge-m3", kind="embedding", workers=["http://w"], dimensions=1024)


def emb(**fields: object) -> EmbeddingRequest:
    return decode(orjson.dumps({"model": "e", "input": "hello", **fields}), EmbeddingRequest)


def test_embedding_dimensions() -> None:
    assert plan_embedding(emb(dimensions=256), Resolved(EMB, None, EMB.id)).dimensions == 256
    assert plan_embedding(emb(dimensions=768), Resolved(EMB, None, EMB.id)).dimensions is None
    for bad in (32, 769):
        with pytest.raises(ApiError) as exc:
            plan_embedding(emb(dimensions=bad), Resolved(EMB, None, EMB.id))
        assert exc.value.param == "dimensions"
    with pytest.raises(ApiError) as exc:
        plan_embedding(emb(dimensions=256), Resolved(BGE, None, BGE.id))
    assert exc.value.code == "unsupported_parameter"
    # a fixed-size model's own size: its card says min_dimensions = dimensions
    assert plan_embedding(emb(dimensions=1024), Resolved(BGE, None, BGE.id)).dimensions is None
    body = upstream(plan_embedding(emb(user="u"), Resolved(BGE, None, BGE.id)).body)
    assert set(body) <= trt.EMBEDDING_FIELDS
    assert body["encoding_format"] == "base64"


@pytest.mark.parametrize("inp", [[], [1.5], ["a", 1], [[1, "x"]], [True]])
def test_embedding_input_shapes(inp: object) -> None:
    with pytest.raises(ApiError) as exc:
        plan_embedding(emb(input=inp), Resolved(BGE, None, BGE.id))
    assert exc.value.param == "input"


@pytest.mark.parametrize(
    ("inp", "param"),
    [("", "input"), (["a", ""], "input[1]"), ([[1], []], "input[1]"), ([[]], "input[0]")],
)
def test_empty_embedding_inputs_are_400(inp: object, param: str) -> None:
    """OpenAI: the input "cannot be an empty string", and each token array holds at
    least one id; these were answered 200 with an embedding of 0 tokens."""
    with pytest.raises(ApiError) as exc:
        plan_embedding(emb(input=inp), Resolved(BGE, None, BGE.id))
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "invalid_value", param)


@pytest.mark.parametrize(("prompt", "param"), [([[]], "prompt[0]"), ([[1, 2], []], "prompt[1]")])
def test_an_empty_array_of_prompt_token_ids_is_400(prompt: object, param: str) -> None:
    with pytest.raises(ApiError) as exc:
        completion(prompt=prompt)
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "invalid_value", param)


@pytest.mark.parametrize(
    ("ids", "param"), [([5, -1], "prompt"), ([[1], [2, -7]], "prompt[1]"), ([-1], "prompt")]
)
def test_a_negative_prompt_token_id_is_400(ids: object, param: str) -> None:
    """Served before; the document already said `minimum: 0`."""
    with pytest.raises(ApiError) as exc:
        completion(prompt=ids)
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "invalid_value", param)
    assert "never negative" in exc.value.message


@pytest.mark.parametrize(("inp", "param"), [([3, -5], "input"), ([[1], [-2]], "input[1]")])
def test_a_negative_embedding_token_id_is_400(inp: object, param: str) -> None:
    with pytest.raises(ApiError) as exc:
        plan_embedding(emb(input=inp), Resolved(BGE, None, BGE.id))
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "invalid_value", param)


def test_token_ids_from_zero_are_forwarded() -> None:
    plan_completion(completion(prompt=[0, 1, 127_999]), RES)
    plan_completion(completion(prompt=[[0], [7.0]]), RES)  # a whole float is an id
    plan_embedding(emb(input=[[0, 1], [2]]), Resolved(BGE, None, BGE.id))


@pytest.mark.parametrize(
    "fields",
    [
        {"best_of": 0},
        {"best_of": -1},
        {"best_of": 21},
        {"best_of": 1, "n": 2},
        {"best_of": 3, "stream": True},
    ],
)
def test_best_of_outside_openai_rules_is_a_400(fields: dict[str, object]) -> None:
    """best_of was forwarded unchecked: 21, 0, below n, or streamed were all served."""
    with pytest.raises(ApiError) as exc:
        plan_completion(completion(**fields), RES)
    assert (exc.value.status, exc.value.param) == (400, "best_of")


@pytest.mark.parametrize(
    "fields", [{"best_of": 1}, {"best_of": 20, "n": 3}, {"best_of": 2, "n": 2, "stream": True}]
)
def test_best_of_within_the_rules_is_forwarded(fields: dict[str, object]) -> None:
    body = upstream(plan_completion(completion(**fields), RES).body)
    assert body["best_of"] == fields["best_of"]


def test_empty_strings_are_still_a_prompt() -> None:
    """OpenAI's prompt defaults to "": an empty string stays a valid prompt."""
    for prompt in ("", [""], ["a", ""]):
        assert plan_completion(completion(prompt=prompt), RES).upstream


PINNED = ModelConfig(
    id="pinned",
    kind="chat",
    workers=["http://w"],
    sampling=SamplingDefaults(temperature=0.3, top_p=0.8),
)


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_sampling_defaults_are_sent_when_the_client_gives_none(kind: str) -> None:
    def plan(model: ModelConfig, **fields: object) -> dict[str, object]:
        res = Resolved(model, None, model.id)
        if kind == "chat":
            return upstream(plan_chat(chat(**fields), res).body)
        req = decode(orjson.dumps({"model": "m", "prompt": "p", **fields}), CompletionRequest)
        return upstream(plan_completion(req, res).body)

    plain = plan(CHAT)
    assert (plain["temperature"], plain["top_p"]) == (1.0, 1.0)
    pinned = plan(PINNED, temperature=None)
    assert (pinned["temperature"], pinned["top_p"]) == (0.3, 0.8)
    own = plan(PINNED, temperature=0.0, top_p=0.5, seed=42, n=3, stop=["a", "b"])
    assert (own["temperature"], own["top_p"]) == (0.0, 0.5)
    assert (own["seed"], own["n"], own["stop"]) == (42, 3, ["a", "b"])


def test_more_than_four_stop_sequences_are_refused() -> None:
    assert upstream(plan_chat(chat(stop=["1", "2", "3", "4"]), RES).body)["stop"] == [
        "1",
        "2",
        "3",
        "4",
    ]
    with pytest.raises(ApiError) as exc:
        plan_chat(chat(stop=["1", "2", "3", "4", "5"]), RES)
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "invalid_value", "stop")
    assert "maximum length 4" in exc.value.message


@pytest.mark.parametrize(
    ("bias", "words"),
    [
        ({"abc": 1}, "key 'abc' is not a token id"),
        ({"-5": 1}, "key '-5' is not a token id"),
        ({"1.5": 1}, "key '1.5' is not a token id"),
        ({"": 1}, "key '' is not a token id"),
        ({"12": 1, "٣": 2}, "is not a token id"),  # a digit, but not an ASCII one
        ({"1": 200}, "the bias for token 1 is 200.0; it must be from -100 to 100"),
        ({"7": -100.5}, "the bias for token 7 is -100.5"),
    ],
)
def test_logit_bias_outside_openai_rules_is_a_400(bias: dict[str, float], words: str) -> None:
    for make, plan in ((chat, plan_chat), (completion, plan_completion)):
        with pytest.raises(ApiError) as exc:
            plan(make(logit_bias=bias), RES)  # type: ignore[operator]
        err = exc.value
        assert (err.status, err.code, err.param) == (400, "invalid_value", "logit_bias")
        assert words in err.message, err.message


def test_a_logit_bias_past_a_double_is_a_400() -> None:
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], '
    with pytest.raises(ApiError) as exc:  # JSON has no limit; no bias reaches the worker as inf
        plan_chat(decode(body + b'"logit_bias": {"7": 1e400}}', ChatRequest), RES)
    assert exc.value.status == 400 and (exc.value.param or "").startswith("logit_bias")


@pytest.mark.parametrize("bias", [{"0": -100}, {"128000": 100, "5": 0.5}, {}, None])
def test_logit_bias_within_the_rules_is_forwarded_as_given(bias: object) -> None:
    body = upstream(plan_chat(chat(logit_bias=bias), RES).body)
    assert body.get("logit_bias") == bias


USUAL = [
    {},
    {"stream": True},
    {"max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "seed": 3, "stop": ["x"]},
    {"max_tokens": None, "n": 2, "user": "u"},
    {"messages": [{"role": "developer", "content": "be brief"}, *MSGS]},
]


@pytest.mark.parametrize("fields", USUAL, ids=range(len(USUAL)))
def test_the_usual_request_plans_as_the_full_checks_would(
    fields: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # plan_chat answers a request that sends nothing unusual without the feature checks;
    # the same request through every check must reach the worker identically
    from provocapi import request_policy

    fast = plan_chat(chat(**fields), RES)
    monkeypatch.setattr(request_policy, "_CHAT_UNUSUAL_GET", lambda req: (None,))
    full = plan_chat(chat(**fields), RES)
    assert fast.body == full.body
    for attr in ("stream", "include_usage", "max_tokens", "default_max_tokens", "one_tool_call"):
        assert getattr(fast, attr) == getattr(full, attr), attr
    if "messages" in fields:
        assert upstream(fast.body)["messages"][0]["role"] == "system"
