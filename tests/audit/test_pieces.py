"""The audit's small pure parts: the JSON Schema subset (checked against `jsonschema`, a
test dependency), percentiles, edit distance, cosine, verdict wording, the progress bar."""

from __future__ import annotations

import io
import json
from typing import Any

import jsonschema
import pytest
from provocapi.audit import probe_misc, schema, scoring, similarity
from provocapi.audit.assemble import Call
from provocapi.audit.context import Ctx
from provocapi.audit.progress import Progress
from provocapi.audit.toolcheck import call_problem
from provocapi.audit.verdicts import BROKEN, NOT_MEASURED, REFUSED, names_feature, not_ok
from provocapi.audit.wire import Reply

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 10},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "kind": {"enum": ["a", "b"]},
        "score": {"type": ["number", "null"]},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
INSTANCES = [
    {"name": "x", "age": 3},
    {"name": "x", "age": 3.0},
    {"name": "x", "age": 3.5},
    {"name": "x", "age": True},
    {"name": "", "age": 3},
    {"name": "elevenchars", "age": 3},
    {"name": "x", "age": -1},
    {"name": "x", "age": 151},
    {"name": "x"},
    {"name": "x", "age": 3, "other": 1},
    {"name": "x", "age": 3, "tags": []},
    {"name": "x", "age": 3, "tags": ["t", 1]},
    {"name": "x", "age": 3, "kind": "c"},
    {"name": "x", "age": 3, "kind": "a", "score": None},
    {"name": "x", "age": 3, "score": "high"},
    {"name": "x", "age": 3, "either": 2},
    {"name": "x", "age": 3, "either": [1]},
    [],
    "text",
]


@pytest.mark.parametrize("instance", INSTANCES, ids=[str(i) for i in range(len(INSTANCES))])
def test_the_schema_subset_agrees_with_jsonschema(instance: Any) -> None:
    reference = jsonschema.Draft202012Validator(SCHEMA).is_valid(instance)
    assert (not schema.errors(instance, SCHEMA)) == reference


def test_percentiles_and_means() -> None:
    values = [float(v) for v in range(1, 101)]
    assert similarity.percentile(values, 50) == pytest.approx(50.5)
    assert similarity.percentile(values, 99) == pytest.approx(99.01)
    assert similarity.percentile([7.0], 90) == 7.0
    assert similarity.percentile([], 50) is None
    assert similarity.mean([1.0, 2.0]) == 1.5


def test_edit_distance_is_normalised_over_words() -> None:
    assert similarity.edit_distance("The  cat sat", "the cat sat") == 0.0
    assert similarity.edit_distance("the cat sat", "the dog sat") == pytest.approx(1 / 3)
    assert similarity.edit_distance("a b c d", "") == 1.0
    assert similarity.edit_distance("", "") == 0.0


def test_cosine() -> None:
    assert similarity.cosine([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert similarity.cosine([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.0)
    assert similarity.cosine([1.0], [1.0, 2.0]) is None
    assert similarity.cosine([0.0, 0.0], [1.0, 1.0]) is None


def _reply(status: int, body: bytes) -> Reply:
    return Reply(status, {}, body, 0.01)


def test_a_refusal_must_name_the_feature_in_the_envelope() -> None:
    env = b'{"error": {"message": "Unsupported parameter: \'seed\'", "type": "x", '
    named = not_ok("seed", _reply(400, env + b'"param": null, "code": null}}'), ("seed",))
    assert named is not None and named.verdict == REFUSED
    vague = b'{"error": {"message": "bad request", "type": "x", "param": null, "code": null}}'
    out = not_ok("seed", _reply(400, vague), ("seed",))
    assert out is not None and out.verdict == BROKEN
    flat = not_ok("seed", _reply(400, b'{"detail": "seed is not allowed"}'), ("seed",))
    assert flat is not None and flat.verdict == BROKEN and "envelope" in flat.evidence
    assert not_ok("x", _reply(200, b'{"ok": 1}'), ()) is None
    server = not_ok("x", _reply(502, b"upstream"), ())
    assert server is not None and server.verdict == BROKEN


def _envelope(message: str, param: str | None = None, code: str | None = None) -> bytes:
    err = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json.dumps({"error": err}).encode()


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (429, _envelope("Rate limit reached", code="rate_limit_exceeded"), NOT_MEASURED),
        (429, b"Too Many Requests", NOT_MEASURED),
        (401, _envelope("Invalid API key", code="invalid_api_key"), NOT_MEASURED),
        (403, _envelope("Not allowed for this key"), NOT_MEASURED),
        (404, _envelope("The model 'm' does not exist", "model", "model_not_found"), NOT_MEASURED),
        (403, _envelope("seed is not allowed for this key", "seed"), REFUSED),
        (404, _envelope("Not found"), BROKEN),
    ],
)
def test_a_refusal_of_the_caller_is_not_a_verdict_on_the_feature(
    status: int, body: bytes, verdict: str
) -> None:
    # a rate limit, a refused key or an unserved model says nothing about `seed`
    out = not_ok("seed", _reply(status, body), ("seed",))
    assert out is not None and out.verdict == verdict, out


def test_names_feature_matches_words_not_fragments() -> None:
    err = {"message": "Invalid 'n': must be at most 8.", "param": None}
    assert names_feature(err, ("n",))
    assert not names_feature({"message": "an unknown error", "param": None}, ("n",))
    assert names_feature({"message": "x", "param": "messages[0].content[1].type"}, ("messages",))


def test_the_progress_bar_plain_and_redrawn() -> None:
    plain = io.StringIO()
    p = Progress(20, plain, tty=False)
    for i in range(20):
        p.step(ok=i != 3)
    p.finish()
    lines = plain.getvalue().splitlines()
    assert 1 < len(lines) <= 11  # a line per tenth, not per request
    assert lines[-1].startswith("[" + "#" * 30 + "] 20/20 requests")
    assert "1 failed" in lines[-1]
    tty = io.StringIO()
    p = Progress(2, tty, tty=True)
    p.step(ok=True)
    assert tty.getvalue().startswith("\r\x1b[2K[")


class _Ep:
    """An endpoint that answers every POST with one canned reply."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.base_url = "http://test/v1"

    def post(self, path: str, body: Any, headers: Any = None) -> Reply:
        return self.reply


@pytest.mark.parametrize(
    ("message", "verdict"),
    [
        ("Invalid URL (POST /v1/responses).", BROKEN),
        ("The Responses API (/v1/responses) is not provided; use /v1/chat/completions.", REFUSED),
    ],
)
def test_responses_refusal_must_name_the_api_not_quote_the_url(message: str, verdict: str) -> None:
    body = json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None,
                   "code": "unknown_url"}}
    ).encode()  # fmt: skip
    ctx = Ctx(_Ep(_reply(404, body)), "m")  # type: ignore[arg-type]
    assert probe_misc.responses_api(ctx).verdict == verdict


@pytest.mark.parametrize(
    "malformed",
    [
        {"type": "object", "required": 5, "minLength": "a", "properties": [1]},
        {"type": [{}], "enum": 5, "anyOf": {}, "allOf": [5], "items": [1], "minItems": "x"},
        {"type": {}},
    ],
)
def test_a_malformed_schema_from_a_golden_file_does_not_stop_the_scoring(
    malformed: dict[str, Any],
) -> None:
    # the keywords of the wrong type are skipped; the well-formed ones still apply
    for value in ({}, "text", [1], 3, None):
        assert isinstance(schema.errors(value, malformed), list)
    assert schema.errors(5, {"type": "string", "required": 5}) == ["$: expected string, got int"]


def test_a_tool_with_a_malformed_name_is_no_tool() -> None:
    tools = [{"type": "function", "function": {"name": ["get_weather"]}}]
    problem = call_problem(Call("call_1", "get_weather", "{}"), tools)
    assert problem is not None and "not one of the tools" in problem


def _overall(a_ms: float, b_ms: float) -> dict[str, Any]:
    side = {"errors": 0, "runs": 20, "latency_ms": {}, "ttft_ms": {}}
    for key in ("tool_call_rate", "tool_valid_rate", "expect_tool_rate", "json_valid_rate",
                "substring_rate"):  # fmt: skip
        side[key] = None
    a = {**side, "latency_ms": {"p50": a_ms}, "ttft_ms": {"p50": None}}
    b = {**side, "latency_ms": {"p50": b_ms}, "ttft_ms": {"p50": None}}
    return {"a": a, "b": b, "prompt_token_ratio": 1.0, "completion_token_ratio": 1.0,
            "exact_match_rate": 1.0, "edit_distance": 0.0}  # fmt: skip


def test_a_latency_gap_of_a_few_ms_is_no_finding() -> None:
    """The same server on both sides gave 'A is slower: 3 ms vs 4 ms, x1.46'."""
    assert scoring.findings(_overall(3.0, 4.4)) == []
    found = scoring.findings(_overall(100.0, 200.0))
    assert found == ["B is slower: p50 latency 200 ms (B) vs 100 ms (A), x2.00"]
