"""Each verdict produced and recognised: simulators told to ignore, refuse or break
fields, and a well-behaved one, probed; every probe's verdict is the one the set-up
implies."""

from __future__ import annotations

import pytest
from provocapi.audit.context import Ctx
from provocapi.audit.probe import run_all
from provocapi.audit.registry import PROBES
from provocapi.audit.verdicts import BROKEN, IGNORED, REFUSED, SKIPPED, WORKS
from provocapi.audit.wire import Endpoint

from .conftest import StartSim, verdicts

MODEL = "probe-model"


def test_a_provider_that_honours_the_fields_works(start_sim: StartSim) -> None:
    url = start_sim(MODEL, "--openai")
    got = verdicts(url, MODEL)
    for name in (
        "chat", "chat_stream", "include_usage", "tools_auto", "tools_required", "tools_named",
        "tools_none", "parallel_tool_calls", "streamed_tool_call", "json_object",
        "json_schema", "seed", "n", "stop", "logprobs",
    ):  # fmt: skip
        assert got[name].verdict == WORKS, got[name]
    # a non-vision provider refuses an image part, naming it
    assert got["image_part"].verdict == REFUSED
    assert "content" in got["image_part"].evidence or "image" in got["image_part"].evidence
    # what the plain provider does not do, seen for what it is
    assert got["request_id"].verdict == IGNORED  # it mints its own id
    assert got["max_tokens_over_cap"].verdict == IGNORED
    assert got["responses_api"].verdict == BROKEN  # a bare 404 that names no API
    assert got["rate_limit"].verdict == SKIPPED


def test_ignored_fields_are_seen_as_silently_ignored(start_sim: StartSim) -> None:
    url = start_sim(
        MODEL,
        "--openai",
        "--accept-images",
        "--ignore-fields",
        "seed,n,stop,stream_options,response_format,tool_choice,tools",
    )
    got = verdicts(url, MODEL)
    for name in (
        "seed", "n", "stop", "include_usage", "json_object", "json_schema", "tools_auto",
        "tools_required", "tools_named", "streamed_tool_call", "image_part",
    ):  # fmt: skip
        assert got[name].verdict == IGNORED, got[name]
    assert got["chat"].verdict == WORKS


def test_ignored_tool_choice_alone_calls_the_wrong_tool(start_sim: StartSim) -> None:
    url = start_sim(MODEL, "--openai", "--ignore-fields", "tool_choice")
    got = verdicts(url, MODEL)
    assert got["tools_named"].verdict == IGNORED
    assert "called get_weather" in got["tools_named"].evidence
    assert got["tools_none"].verdict == IGNORED
    assert got["tools_auto"].verdict == WORKS


def test_refused_fields_are_refused_clearly(start_sim: StartSim) -> None:
    url = start_sim(
        MODEL, "--openai", "--refuse-fields", "logprobs,seed,n,tools,response_format,stop"
    )
    got = verdicts(url, MODEL)
    for name in ("logprobs", "seed", "n", "tools_auto", "json_schema", "stop"):
        assert got[name].verdict == REFUSED, got[name]
        assert "HTTP 400" in got[name].evidence


def test_broken_answers_are_broken(start_sim: StartSim) -> None:
    url = start_sim(MODEL, "--openai", "--broken-fields", "tools,stream,n")
    got = verdicts(url, MODEL)
    for name in ("tools_auto", "tools_required", "streamed_tool_call", "parallel_tool_calls"):
        assert got[name].verdict == BROKEN, got[name]
        assert "not JSON" in got[name].evidence
    assert got["chat_stream"].verdict == BROKEN
    assert got["n"].verdict == BROKEN
    assert got["chat"].verdict == WORKS


def test_the_trtllm_profile_fails_a_refusal_without_the_envelope(start_sim: StartSim) -> None:
    # trtllm-serve's own errors are flat, not OpenAI's envelope: broken for a client
    url = start_sim(MODEL, "--refuse-fields", "seed")
    got = verdicts(url, MODEL)
    assert got["seed"].verdict == BROKEN
    assert "envelope" in got["seed"].evidence


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), {"embeddings_float": WORKS, "embeddings_base64": WORKS,
              "embeddings_dimensions": WORKS}),
        (("--ignore-fields", "encoding_format,dimensions"),
         {"embeddings_float": WORKS, "embeddings_base64": IGNORED,
          "embeddings_dimensions": IGNORED}),
        (("--refuse-fields", "dimensions", "--broken-fields", "encoding_format"),
         {"embeddings_base64": BROKEN, "embeddings_dimensions": REFUSED}),
    ],
    ids=["honoured", "ignored", "refused-and-broken"],
)  # fmt: skip
def test_embedding_verdicts(
    start_sim: StartSim, flags: tuple[str, ...], expected: dict[str, str]
) -> None:
    url = start_sim("embed-model", "--openai", "--embedding", "--dimensions", "128", *flags)
    # the chat probes meet a server without chat (404s); only the embedding ones matter
    got = verdicts(url, "no-chat-model", "embed-model")
    for name, verdict in expected.items():
        assert got[name].verdict == verdict, got[name]


def test_a_429_without_retry_after_is_broken(start_sim: StartSim) -> None:
    # one request at a time, each held 30 ms: eight at once meet the queue's 429, which
    # the simulator answers without Retry-After or x-ratelimit-* headers
    url = start_sim(MODEL, "--openai", "--max-queue", "1", "--ttft-ms", "30")
    ctx = Ctx(Endpoint(url), MODEL, provoke_429=True, max_429=40)
    (rate_limit,) = [p for p in PROBES if p.name == "rate_limit"]
    (o,) = run_all(ctx, (rate_limit,))
    assert o.verdict == BROKEN, o
    assert "Retry-After" in o.evidence and "x-ratelimit" in o.evidence
