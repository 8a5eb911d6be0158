"""Every error class: the SDK's exception, the status, and OpenAI's envelope."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import httpx2
import openai
import pytest
from harness.procs import create_key, run_cli
from openai.types.chat import ChatCompletion

from .conftest import (
    ADAPTER,
    DOWN_MODEL,
    GHOST_ADAPTER,
    MAX_BODY_BYTES,
    MAX_OUTPUT_TOKENS,
    TIMEOUT_MODEL,
    TIMEOUT_S,
    Stack,
    make_client,
)
from .helpers import Recorder, parse_sse

_ANY = object()  # "any param"
MODEL = "llama-3.1-8b-instruct"
MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]


def said(content: str) -> list[Any]:
    return [{"role": "user", "content": content}]


def check_error(
    exc: openai.APIStatusError,
    cls: type[openai.APIStatusError],
    status: int,
    type_: str,
    code: str,
    param: object = _ANY,
) -> dict[str, Any]:
    """The SDK class and status, the envelope's type/code/param, and the request id."""
    assert isinstance(exc, cls), f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    assert exc.status_code == status, f"status {exc.status_code}: {exc.body}"
    body = exc.body
    assert isinstance(body, dict), f"no error envelope: {exc.response.text!r}"
    # the SDK unwraps {"error": {...}}: check the raw envelope too
    envelope = exc.response.json()
    assert set(envelope) == {"error"}, envelope
    assert set(envelope["error"]) >= {"message", "type", "param", "code"}, envelope
    assert isinstance(body["message"], str) and body["message"]
    assert body["type"] == type_, body
    assert body["code"] == code, body
    if param is not _ANY:
        assert body["param"] == param, body
    assert exc.response.headers["content-type"].startswith("application/json")
    assert exc.request_id, "error without X-Request-Id"
    return body


def raw_error(resp: httpx2.Response, status: int, type_: str, code: str) -> dict[str, Any]:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    assert resp.headers.get("x-request-id")
    body = resp.json()
    err = body["error"]
    assert set(err) >= {"message", "type", "param", "code"}, body
    assert err["type"] == type_, body
    assert err["code"] == code, body
    return err


def post_chat(client: openai.OpenAI, body: dict[str, Any]) -> ChatCompletion:
    return client.post("/chat/completions", body=body, cast_to=ChatCompletion)


# --------------------------------------------------------------------------- 400


def test_malformed_json(raw: httpx2.Client, auth: dict[str, str]) -> None:
    r = raw.post(
        "/v1/chat/completions",
        headers={**auth, "Content-Type": "application/json"},
        content=b'{"model": "llama-3.1-8b-instruct", "messages": [',
    )
    raw_error(r, 400, "invalid_request_error", "invalid_json")


def test_body_not_an_object(raw: httpx2.Client, auth: dict[str, str]) -> None:
    r = raw.post("/v1/chat/completions", headers=auth, json=["model", MODEL])
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_missing_messages(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        post_chat(client, {"model": MODEL})
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "missing_required_parameter", "messages")  # fmt: skip


def test_missing_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        post_chat(client, {"messages": MESSAGES})
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "missing_required_parameter", "model")  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_tokens", "ten"), ("messages", "hello"), ("temperature", "hot"), ("stream", "yes")],
)
def test_ill_typed_field(client: openai.OpenAI, field: str, value: object) -> None:
    body: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, field: value}
    with pytest.raises(openai.BadRequestError) as ei:
        post_chat(client, body)
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "invalid_type", field)  # fmt: skip


def test_unknown_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, extra_body={"frobnicate_level": 3}
        )
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "unknown_parameter", "frobnicate_level")  # fmt: skip


def test_unknown_field_embeddings(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.embeddings.create(model="bge-m3", input="x", extra_body={"pooling": "mean"})
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "unknown_parameter", "pooling")  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("web_search_options", {"search_context_size": "low"}),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("prediction", {"type": "content", "content": "hello"}),
    ],
)
def test_unsupported_field(client: openai.OpenAI, field: str, value: object) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        post_chat(client, {"model": MODEL, "messages": MESSAGES, field: value})
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "unsupported_parameter", field)  # fmt: skip


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_over_cap(client: openai.OpenAI, field: str) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        post_chat(client, {"model": MODEL, "messages": MESSAGES, field: MAX_OUTPUT_TOKENS + 1})
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "invalid_value", field)  # fmt: skip
    # at the cap is fine (the simulator stops far earlier)
    resp = post_chat(client, {"model": MODEL, "messages": MESSAGES, field: MAX_OUTPUT_TOKENS})
    assert resp.choices


def test_max_tokens_over_cap_completions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.completions.create(model=MODEL, prompt="x", max_tokens=MAX_OUTPUT_TOKENS + 1)
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "invalid_value", "max_tokens")  # fmt: skip


LLAMA3_ID_END = 128_256  # Llama 3's tokenizer: 128,000 ranks and 256 specials


@pytest.mark.parametrize(
    ("prompt", "param"),
    [([LLAMA3_ID_END], "prompt"), ([9, 999_999_999], "prompt"),
     ([[9], [9, LLAMA3_ID_END + 5]], "prompt[1]")],
)  # fmt: skip
def test_token_ids_past_the_vocabulary(
    client: openai.OpenAI, prompt: list[Any], param: str
) -> None:
    """An id the model's vocabulary lacks never reaches a worker, whose embedding lookup
    would index past its table (on a GPU, an out-of-range index can take it down)."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.completions.create(model=MODEL, prompt=prompt, max_tokens=2)
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "invalid_value", param)  # fmt: skip
    assert "not in the model's vocabulary" in ei.value.message
    # the vocabulary's last id, and its first, are served
    last = client.completions.create(model=MODEL, prompt=[0, LLAMA3_ID_END - 1], max_tokens=2)
    assert last.choices and last.usage is not None and last.usage.prompt_tokens == 2


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 3), ("temperature", -0.5), ("top_p", 1.5), ("n", 0)]
)
def test_out_of_range(client: openai.OpenAI, field: str, value: float) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        post_chat(client, {"model": MODEL, "messages": MESSAGES, field: value})
    check_error(ei.value, openai.BadRequestError, 400, "invalid_request_error",
                "invalid_value", field)  # fmt: skip


# --------------------------------------------------------------------------- 401


def test_missing_key(raw: httpx2.Client) -> None:
    r = raw.post("/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES})
    err = raw_error(r, 401, "invalid_request_error", "missing_api_key")
    assert err["param"] is None
    r = raw.get("/v1/models")
    raw_error(r, 401, "invalid_request_error", "missing_api_key")
    # `-H "Authorization: Bearer $KEY"` with KEY unset: no key, not a wrong one (the
    # trailing space is stripped on the way, as any field value's: "Bearer" arrives)
    r = raw.get("/v1/models", headers={"Authorization": "Bearer"})
    raw_error(r, 401, "invalid_request_error", "missing_api_key")


def test_unknown_key(stack: Stack, recorder: Recorder) -> None:
    with make_client(stack, recorder, key="pk-prov-" + secrets.token_urlsafe(32),
                     max_retries=0) as bad:  # fmt: skip
        with pytest.raises(openai.AuthenticationError) as ei:
            bad.chat.completions.create(model=MODEL, messages=MESSAGES)
        body = check_error(ei.value, openai.AuthenticationError, 401,
                           "invalid_request_error", "invalid_api_key")  # fmt: skip
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    # the message must not echo the secret back
    assert "pk-prov-" not in json.dumps(body).replace("pk-prov-...", "")


def test_malformed_key(stack: Stack, recorder: Recorder) -> None:
    with make_client(stack, recorder, key="sk-not-ours", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as ei:
            bad.embeddings.create(model="bge-m3", input="x")
        check_error(ei.value, openai.AuthenticationError, 401,
                    "invalid_request_error", "invalid_api_key")  # fmt: skip


def _key_id(stack: Stack, tenant: str) -> str:
    res = run_cli("keys", "list", "--data-dir", str(stack.data_dir))
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if tenant in line]
    assert len(lines) == 1, f"`keys list` has no single line for tenant {tenant}:\n{res.stdout}"
    line = lines[0]
    try:  # JSON lines, or a table
        rec = json.loads(line)
        return str(rec["id"])
    except ValueError:
        pass
    tokens = [t for t in re.split(r"[\s|,]+", line) if t and t != tenant]
    ids = [t for t in tokens if re.fullmatch(r"(key|pk|id)[-_][A-Za-z0-9_-]+", t)]
    assert ids, f"no key id in {line!r}"
    return ids[0]


def test_revoked_key_stops_working(stack: Stack, recorder: Recorder) -> None:
    tenant = "revokee-" + secrets.token_hex(3)
    key = create_key(stack.data_dir, tenant, models=["llama-3.1-8b-instruct"])
    assert re.fullmatch(r"pk-prov-[A-Za-z0-9_-]{32,}", key), key
    listing = run_cli("keys", "list", "--data-dir", str(stack.data_dir))
    assert key not in listing.stdout and key[8:] not in listing.stdout, "keys list shows a secret"
    assert key[8:20] not in listing.stdout, "keys list shows a secret's body"

    with make_client(stack, recorder, key=key, max_retries=0) as c:
        deadline = time.monotonic() + 2.0
        while True:  # a new key must work within about a second, without restart
            try:
                c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2)
                break
            except openai.AuthenticationError:
                assert time.monotonic() < deadline, "a new key was not accepted within 2 s"
                time.sleep(0.1)
        # its key narrows it to one model (and that model's aliases)
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model="mistral-small-3-24b", messages=MESSAGES)
        # (the operator's adapters of that model are listed as base:name too)
        adapters = {f"llama-3.1-8b-instruct:{a}" for a in (ADAPTER, GHOST_ADAPTER)}
        assert {m.id for m in c.models.list()} == {
            "llama-3.1-8b-instruct",
            "gpt-4o-mini",
            *adapters,
        }

        kid = _key_id(stack, tenant)
        res = run_cli("keys", "revoke", kid, "--data-dir", str(stack.data_dir))
        assert res.returncode == 0, res.stdout + res.stderr
        revoked_at = time.monotonic()
        while True:
            try:
                c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2)
            except openai.AuthenticationError as exc:
                check_error(exc, openai.AuthenticationError, 401,
                            "invalid_request_error", "invalid_api_key")  # fmt: skip
                break
            assert time.monotonic() - revoked_at < 1.5, "revoked key still works after 1.5 s"
            time.sleep(0.05)
    listing = run_cli("keys", "list", "--data-dir", str(stack.data_dir)).stdout
    line = next(x for x in listing.splitlines() if tenant in x)
    assert "revoked" in line.lower(), line


# --------------------------------------------------------------------------- 404 / 405 / 413


def test_unknown_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="gpt-5-ultra", messages=MESSAGES)
    check_error(ei.value, openai.NotFoundError, 404, "invalid_request_error",
                "model_not_found", "model")  # fmt: skip


@pytest.mark.parametrize("model", ["qwen-2.5-72b-instruct", "gpt-4o", "nomic-embed-v1.5"])
def test_model_outside_tenant(acme: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        if "embed" in model:
            acme.embeddings.create(model=model, input="x")
        else:
            acme.chat.completions.create(model=model, messages=MESSAGES)
    check_error(ei.value, openai.NotFoundError, 404, "invalid_request_error",
                "model_not_found", "model")  # fmt: skip


def test_unknown_url(raw: httpx2.Client, auth: dict[str, str]) -> None:
    r = raw.post("/v1/no/such/thing", headers=auth, json={})
    raw_error(r, 404, "invalid_request_error", "unknown_url")


@pytest.mark.parametrize(
    ("method", "path"),
    # (GET /v1/chat/completions is OpenAI's list of stored completions: test_unserved.py)
    [("DELETE", "/v1/chat/completions"), ("GET", "/v1/embeddings"), ("DELETE", "/v1/models")],
)
def test_method_not_allowed(
    raw: httpx2.Client, auth: dict[str, str], method: str, path: str
) -> None:
    r = raw.request(method, path, headers=auth)
    raw_error(r, 405, "invalid_request_error", "method_not_allowed")
    assert r.headers.get("allow"), "a 405 must name the allowed methods (RFC 9110)"


def test_body_too_large(raw: httpx2.Client, auth: dict[str, str], client: openai.OpenAI) -> None:
    big = "x" * (MAX_BODY_BYTES + 1024)
    r = raw.post("/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": said(big)})
    raw_error(r, 413, "invalid_request_error", "request_too_large")
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model=MODEL, messages=said(big))
    check_error(ei.value, openai.APIStatusError, 413, "invalid_request_error",
                "request_too_large")  # fmt: skip


def test_body_too_large_chunked(raw: httpx2.Client, auth: dict[str, str]) -> None:
    """No Content-Length: the limit holds while reading."""

    def gen() -> Any:
        yield b'{"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"y" * 4096
        yield b'"}]}'

    r = raw.post(
        "/v1/chat/completions",
        headers={**auth, "Content-Type": "application/json"},
        content=gen(),
    )
    raw_error(r, 413, "invalid_request_error", "request_too_large")


# --------------------------------------------------------------------------- upstream failures


def test_upstream_garbage(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(model=MODEL, messages=said("hi [sim:garbage]"))
    check_error(ei.value, openai.InternalServerError, 502, "server_error", "upstream_error")


def test_upstream_garbage_streamed(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError) as ei:
        for _ in client.chat.completions.create(
            model=MODEL, messages=said("hi [sim:garbage]"), stream=True
        ):
            pass
    body = ei.value.body
    assert isinstance(body, dict) and body.get("type") == "server_error", body


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_5xx(client: openai.OpenAI, status: int) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(model=MODEL, messages=said(f"hi [sim:status={status}]"))
    check_error(ei.value, openai.InternalServerError, 502, "server_error", "upstream_error")


def test_upstream_5xx_embeddings(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.embeddings.create(model="bge-m3", input="x [sim:status=500]")
    check_error(ei.value, openai.InternalServerError, 502, "server_error", "upstream_error")


def test_worker_down(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.InternalServerError) as ei:
            res = client.chat.completions.create(model=DOWN_MODEL, messages=MESSAGES,
                                                 stream=stream)  # fmt: skip
            for _ in res if stream else ():  # type: ignore[union-attr]
                pass
        check_error(ei.value, openai.InternalServerError, 503, "server_error",
                    "no_healthy_worker")  # fmt: skip


def test_worker_429_is_503_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(model=MODEL, messages=said("hi [sim:status=429]"))
    check_error(ei.value, openai.InternalServerError, 503, "server_error", "worker_overloaded")
    retry_after = ei.value.response.headers.get("retry-after")
    assert retry_after is not None, "503 worker_overloaded without Retry-After"
    assert retry_after.isdigit() and 0 < int(retry_after) <= 60, retry_after


@pytest.mark.parametrize("status", [400, 422])
def test_worker_4xx_passes_through(client: openai.OpenAI, status: int) -> None:
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model=MODEL, messages=said(f"hi [sim:status={status}]"))
    cls = openai.BadRequestError if status == 400 else openai.UnprocessableEntityError
    assert isinstance(ei.value, cls)
    assert ei.value.status_code == status
    body = ei.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error", body
    # OpenAI's envelope, not trtllm-serve's flat {"object": "error", "code": 400}
    assert set(ei.value.response.json()) == {"error"}
    assert not isinstance(body.get("code"), int), body


def test_upstream_timeout(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(
            model=TIMEOUT_MODEL, messages=said("slow [sim:delay_ms=6000]"), max_tokens=4
        )
    elapsed = time.monotonic() - started
    check_error(ei.value, openai.APIStatusError, 504, "server_error", "upstream_timeout")
    assert isinstance(ei.value, openai.InternalServerError)
    assert TIMEOUT_S - 0.2 <= elapsed <= TIMEOUT_S + 2.0, f"504 after {elapsed:.2f} s"


def test_upstream_timeout_streamed(client: openai.OpenAI) -> None:
    """Before the first byte: a 504; after a 200 went out: an upstream_timeout error event."""
    started = time.monotonic()
    with pytest.raises(openai.APIError) as ei:
        for _ in client.chat.completions.create(
            model=TIMEOUT_MODEL, messages=said("slow [sim:delay_ms=6000]"), max_tokens=4,
            stream=True,
        ):  # fmt: skip
            pass
    elapsed = time.monotonic() - started
    if isinstance(ei.value, openai.APIStatusError):
        check_error(ei.value, openai.InternalServerError, 504, "server_error", "upstream_timeout")
    else:
        assert isinstance(ei.value.body, dict) and ei.value.body["code"] == "upstream_timeout"
    assert elapsed <= TIMEOUT_S + 2.0, f"gave up after {elapsed:.2f} s"


def test_mid_stream_failure_completions(client: openai.OpenAI) -> None:
    got: list[Any] = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in client.completions.create(
            model=MODEL, prompt="story [sim:drop_after=2]", max_tokens=20, stream=True
        ):
            got.append(chunk)
    assert not isinstance(ei.value, openai.APIStatusError)
    assert isinstance(ei.value.body, dict) and ei.value.body["type"] == "server_error"
    assert got


def test_mid_stream_failure(client: openai.OpenAI) -> None:
    got: list[Any] = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in client.chat.completions.create(
            model=MODEL, messages=said("story [sim:drop_after=2]"), max_tokens=20, stream=True
        ):
            got.append(chunk)
    assert not isinstance(ei.value, openai.APIStatusError), "the failure must be mid-stream"
    body = ei.value.body
    assert isinstance(body, dict), body
    assert set(body) >= {"message", "type", "param", "code"}, body
    assert body["type"] == "server_error", body
    assert got, "no chunk before the failure"


def test_mid_stream_failure_raw(raw: httpx2.Client, auth: dict[str, str]) -> None:
    with raw.stream(
        "POST",
        "/v1/chat/completions",
        headers=auth,
        json={
            "model": MODEL,
            "messages": said("story [sim:drop_after=2]"),
            "max_tokens": 20,
            "stream": True,
        },
    ) as r:
        assert r.status_code == 200
        data = r.read()
    events, rest = parse_sse(data)
    assert not rest.strip()
    assert events, data
    assert "[DONE]" not in [e.data for e in events], "a failed stream must not end with [DONE]"
    last = json.loads(events[-1].data)
    assert set(last) == {"error"}, last
    assert len(events) >= 2, "the chunks before the failure were lost"


async def test_async_errors(aclient: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await aclient.chat.completions.create(model="nope", messages=MESSAGES)
    with pytest.raises(openai.APIError):
        stream = await aclient.chat.completions.create(
            model=MODEL, messages=said("x [sim:drop_after=1]"), max_tokens=20, stream=True
        )
        async for _ in stream:
            pass
