"""Request decoding: msgspec's findings, nesting depth and free-form shapes become
OpenAI errors naming the param."""

from __future__ import annotations

import orjson
import pytest
from provocapi.decoding import decode
from provocapi.errors import QUOTE_CHARS, ApiError
from provocapi.json_depth import MAX_DEPTH
from provocapi.schemas import ChatRequest, CompletionRequest, EmbeddingRequest


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{", "invalid_json", None),
        (b"", "invalid_json", None),
        (b"[]", "invalid_type", None),
        (b'{"model": "m"}', "missing_required_parameter", "messages"),
        (b'{"messages": []}', "missing_required_parameter", "model"),
        (b'{"model": 1, "messages": []}', "invalid_type", "model"),
        (b'{"model": "m", "messages": [], "foo": 1}', "unknown_parameter", "foo"),
        (b'{"model": "m", "messages": [1]}', "invalid_type", "messages[0]"),
        (b'{"model": "m", "messages": [], "temperature": "hot"}', "invalid_type", "temperature"),
        (b'{"model": "m", "messages": [], "stop": [1]}', "invalid_type", "stop[0]"),
        (b'{"model": "m", "messages": [], "stream": "yes"}', "invalid_type", "stream"),
    ],
)
def test_chat_decode_errors(body: bytes, code: str, param: str | None) -> None:
    with pytest.raises(ApiError) as exc:
        decode(body, ChatRequest)
    err = exc.value
    assert err.status == 400
    assert err.type == "invalid_request_error"
    assert err.code == code
    assert err.param == param


def test_valid_bodies_decode() -> None:
    req = decode(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', ChatRequest)
    assert req.model == "m" and req.messages[0]["content"] == "hi"
    emb = decode(
        b'{"model": "e", "input": ["a", "b"], "encoding_format": "base64"}', EmbeddingRequest
    )
    assert emb.input == ["a", "b"] and emb.encoding_format == "base64"


def test_bad_encoding_format_is_named() -> None:
    with pytest.raises(ApiError) as exc:
        decode(b'{"model": "e", "input": "a", "encoding_format": "hex"}', EmbeddingRequest)
    assert exc.value.param == "encoding_format"


# --------------------------------------------------------------------------- depth and shapes


def chat_body(message: str, extra: str = "") -> bytes:
    return ('{"model": "m", "messages": [' + message + "]" + extra + "}").encode()


@pytest.mark.parametrize("depth", [MAX_DEPTH - 3 + 1, 500, 985, 5000])
def test_nesting_past_the_limit_is_named(depth: int) -> None:
    # the body, messages and the message take 3 levels: x adds `depth`
    x = "[" * depth + "]" * depth
    with pytest.raises(ApiError) as exc:
        decode(chat_body('{"role": "user", "content": "hi", "x": ' + x + "}"), ChatRequest)
    assert (exc.value.status, exc.value.code) == (400, "invalid_value")
    assert exc.value.param == "messages[0].x"


def test_nesting_up_to_the_limit_decodes() -> None:
    x = "[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3)
    req = decode(chat_body('{"role": "user", "content": "hi", "x": ' + x + "}"), ChatRequest)
    expected: list[object] = []
    for _ in range(MAX_DEPTH - 4):
        expected = [expected]
    assert req.messages[0]["x"] == expected


def test_brackets_inside_strings_do_not_count() -> None:
    text = '"\\"[{' + "[" * 500 + '\\\\"'
    req = decode(chat_body('{"role": "user", "content": ' + text + "}"), ChatRequest)
    assert req.messages[0]["content"].startswith('"[{[')


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "m", "prompt": ' + b"[" * 70 + b"]" * 70 + b"}", "prompt"),
        (b'{"model": "m", "prompt": [[' + b"[" * 2000 + b"]" * 2000 + b"]]}", "prompt"),
        (
            b'{"model": "m", "prompt": "x", "stream_options": '
            + b'{"a": ' * 70
            + b"1"
            + b"}" * 70
            + b"}",
            "stream_options.a.a",
        ),
    ],
)
def test_nesting_in_completions(body: bytes, param: str) -> None:
    with pytest.raises(ApiError) as exc:
        decode(body, CompletionRequest)
    assert exc.value.code == "invalid_value" and exc.value.param == param


def test_nesting_in_embeddings_input() -> None:
    body = b'{"model": "e", "input": [' + b"[" * 985 + b"]" * 985 + b"]}"
    with pytest.raises(ApiError) as exc:
        decode(body, EmbeddingRequest)
    assert exc.value.code == "invalid_value" and exc.value.param == "input"


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ('{"role": ["user"]}', "invalid_type", "messages[0].role"),
        ('{"role": {"r": 1}}', "invalid_type", "messages[0].role"),
        ('{"role": null}', "missing_required_parameter", "messages[0].role"),
        ('{"role": "wizard"}', "invalid_value", "messages[0].role"),
        ('{"role": "user", "content": {"a": 1}}', "invalid_type", "messages[0].content"),
        ('{"role": "user", "content": [1]}', "invalid_type", "messages[0].content[0]"),
        ('{"role": "user", "content": [{"type": 1}]}', "invalid_type", "messages[0].content[0]"),
        (
            '{"role": "user", "content": [{"type": "text"}]}',
            "invalid_type",
            "messages[0].content[0].text",
        ),
        ('{"role": "user", "content": "x", "name": 3}', "invalid_type", "messages[0].name"),
        ('{"role": "tool", "tool_call_id": []}', "invalid_type", "messages[0].tool_call_id"),
        (
            '{"role": "tool", "content": "42"}',
            "missing_required_parameter",
            "messages[0].tool_call_id",
        ),  # (the one shape the plain-message fast path takes)
        (
            '{"role": "tool", "content": "42", "tool_call_id": null}',
            "missing_required_parameter",
            "messages[0].tool_call_id",
        ),
        ('{"role": "assistant", "tool_calls": {}}', "invalid_type", "messages[0].tool_calls"),
        ('{"role": "assistant", "tool_calls": [1]}', "invalid_type", "messages[0].tool_calls[0]"),
        (
            '{"role": "assistant", "tool_calls": [{"function": "f"}]}',
            "invalid_type",
            "messages[0].tool_calls[0].function",
        ),
        (
            '{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 1}}]}',
            "invalid_type",
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            '{"role": "assistant", "tool_calls": [{"id": 1, "function": {"name": "f"}}]}',
            "invalid_type",
            "messages[0].tool_calls[0].id",
        ),
    ],
)
def test_message_shapes(message: str, code: str, param: str) -> None:
    with pytest.raises(ApiError) as exc:
        decode(chat_body('{"role": "user", "content": "ok"}, ' + message), ChatRequest)
    assert (exc.value.status, exc.value.code) == (400, code)
    assert exc.value.param == param.replace("[0]", "[1]", 1)


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ('{"role": "user", "content": []}', "messages[1].content"),
        ('{"role": "system", "content": []}', "messages[1].content"),
        ('{"role": "assistant", "content": [], "tool_calls": null}', "messages[1].content"),
        ('{"role": "assistant", "content": "x", "tool_calls": []}', "messages[1].tool_calls"),
    ],
)
def test_an_empty_array_in_a_message_is_openai_s_empty_array(message: str, param: str) -> None:
    """Both were served: an empty content array as an empty turn (the spec's minItems is
    1), and `tool_calls: []`, which OpenAI refuses with these words (openai-node #1341)."""
    with pytest.raises(ApiError) as exc:
        decode(chat_body('{"role": "user", "content": "ok"}, ' + message), ChatRequest)
    assert (exc.value.status, exc.value.code, exc.value.param) == (400, "empty_array", param)
    assert exc.value.message == (
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead."
    )


def test_messages_of_every_documented_shape_decode() -> None:
    messages = [
        '{"role": "system", "content": "s", "name": "n"}',
        '{"role": "user", "content": [{"type": "text", "text": "t"}, '
        '{"type": "text", "text": "u"}]}',
        '{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", '
        '"function": {"name": "f", "arguments": "{}"}}], "extra": {"kept": [1, 2]}}',
        '{"role": "tool", "tool_call_id": "c", "content": "r"}',
    ]
    req = decode(chat_body(", ".join(messages)), ChatRequest)
    assert req.messages[2]["extra"] == {"kept": [1, 2]}


@pytest.mark.parametrize(
    ("role", "part"),
    [
        ("user", '{"type": "image_url", "image_url": {"url": "https://x/y.png"}}'),
        ("user", '{"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}'),
        ("user", '{"type": "file", "file": {"file_id": "file-1"}}'),
        ("user", '{"type": "video", "text": "t"}'),
        ("assistant", '{"type": "refusal", "refusal": "no"}'),
        ("tool", '{"type": "image_url", "image_url": {"url": "u"}}'),
        ("system", '{"type": "input_text", "text": "s"}'),
    ],
)
def test_non_text_content_parts_are_refused_by_name(role: str, part: str) -> None:
    body = f'{{"role": "{role}", "content": [{{"type": "text", "text": "t"}}, {part}]}}'
    with pytest.raises(ApiError) as exc:
        decode(chat_body('{"role": "user", "content": "ok"}, ' + body), ChatRequest)
    kind = orjson.loads(part)["type"]
    assert (exc.value.status, exc.value.code) == (400, "unsupported_content")
    assert exc.value.param == "messages[1].content[1].type"
    assert f"'{kind}'" in exc.value.message


def test_empty_messages_are_refused() -> None:
    with pytest.raises(ApiError) as exc:
        decode(b'{"model": "m", "messages": []}', ChatRequest)
    assert exc.value.param == "messages"


@pytest.mark.parametrize("prompt", ['[{"a": 1}]', '[["x"]]', '[1, "x"]', "[true]", "[[1, 2.5]]"])
def test_prompt_shapes(prompt: str) -> None:
    with pytest.raises(ApiError) as exc:
        decode(b'{"model": "m", "prompt": %s}' % prompt.encode(), CompletionRequest)
    assert (exc.value.code, exc.value.param) == ("invalid_type", "prompt")


@pytest.mark.parametrize("prompt", ['"x"', '["a", "b"]', "[1, 2]", "[[1], [2, 3]]"])
def test_prompt_shapes_that_decode(prompt: str) -> None:
    decode(b'{"model": "m", "prompt": %s}' % prompt.encode(), CompletionRequest)


@pytest.mark.parametrize("field", ["seed", "top_k", "n", "max_tokens", "stop_token_ids"])
def test_integers_fit_in_64_bits(field: str) -> None:
    big = "9" * 30
    value = f"[{big}]" if field == "stop_token_ids" else big
    with pytest.raises(ApiError) as exc:
        decode(chat_body('{"role": "user", "content": "hi"}', f', "{field}": {value}'), ChatRequest)
    assert exc.value.code == "invalid_value"
    assert exc.value.param == (f"{field}[0]" if field == "stop_token_ids" else field)
    ok = decode(
        chat_body('{"role": "user", "content": "hi"}', f', "seed": {2**63 - 1}'), ChatRequest
    )
    assert ok.seed == 2**63 - 1


def test_a_long_unknown_field_is_quoted_short() -> None:
    name = "z" * 100_000
    with pytest.raises(ApiError) as exc:
        decode(chat_body('{"role": "user", "content": "hi"}', f', "{name}": 1'), ChatRequest)
    assert exc.value.code == "unknown_parameter"
    assert exc.value.param == "z" * QUOTE_CHARS + "..."
    assert len(exc.value.message) < QUOTE_CHARS + 80


def test_a_long_wrong_value_is_quoted_short() -> None:
    body = b'{"model": "e", "input": "a", "encoding_format": "' + b"h" * 100_000 + b'"}'
    with pytest.raises(ApiError) as exc:
        decode(body, EmbeddingRequest)
    assert exc.value.param == "encoding_format"
    assert len(exc.value.message) < QUOTE_CHARS + 80
