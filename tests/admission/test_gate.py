"""Admission in process: tiers → buckets, headers, 429s, refunds, context guard."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from provocapi import request_policy
from provocapi.config import ConfigError, parse
from provocapi.errors import ApiError

from .conftest import CONFIG, Env, key


def hdrs(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in pairs}


def token_headers(env: Env, k, model: str = "llama-3.1-8b-instruct") -> dict[str, str]:
    limits = env.gate.limits.get(k, model)
    assert limits is not None
    return hdrs(limits.buckets.headers())


def test_headers_report_the_tightest_bucket_per_unit(env: Env) -> None:
    call = env.chat(key("acme"), max_tokens=20)
    h = hdrs(env.gate.admit(call))
    cost = call.prompt_tokens + 20
    assert call.reserved_tokens == cost
    # requests: key 10, tenant 4, model 100 per minute → the tenant's 3 of 4 is tightest
    assert h["x-ratelimit-limit-requests"] == "4"
    assert h["x-ratelimit-remaining-requests"] == "3"
    assert h["x-ratelimit-reset-requests"] == "15s"
    # tokens: key 600, tenant 6000, model 300 → the model's bucket
    assert h["x-ratelimit-limit-tokens"] == "300"
    assert h["x-ratelimit-remaining-tokens"] == str(300 - cost)
    reset_ms = cost * 200  # 300 tokens per minute: 200 ms each
    want = f"{reset_ms}ms" if reset_ms < 1000 else f"{reset_ms / 1000:g}s"
    assert h["x-ratelimit-reset-tokens"] == want


def test_tenant_bucket_is_shared_by_its_keys_and_refuses_with_429(env: Env) -> None:
    a, b = key("acme", "key_a"), key("acme", "key_b")
    for k in (a, b, a, b):
        env.gate.admit(env.chat(k, max_tokens=1))
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.chat(a, max_tokens=1))
    err = info.value
    assert (err.status, err.code, err.type) == (429, "rate_limit_exceeded", "rate_limit_exceeded")
    assert "tenant acme" in err.message and "requests per min (RPM)" in err.message
    h = hdrs(err.headers)
    assert h["retry-after"] == "15"  # 4 per minute: the next one in 15 s
    assert 14_000 < int(h["retry-after-ms"]) <= 15_000
    assert h["x-ratelimit-remaining-requests"] == "0"
    assert "x-should-retry" not in h
    assert "provocapi_ratelimit_refusals_total" in env.telemetry.render()
    # the refused request charged nothing: the other key's own bucket still has 8 of 10
    limits = env.gate.limits.get(a, "llama-3.1-8b-instruct")
    assert limits is not None


def test_over_capacity_is_never_retried(env: Env) -> None:
    call = env.chat(key("small"), model="other", max_tokens=60)  # key_tpm = 50
    with pytest.raises(ApiError) as info:
        env.gate.admit(call)
    h = hdrs(info.value.headers)
    assert info.value.status == 429
    assert h["x-should-retry"] == "false"
    assert "retry-after" not in h
    assert "Request too large" in info.value.message


def test_unused_tokens_are_refunded_when_the_answer_ends(env: Env) -> None:
    k = key("small")
    call = env.chat(k, model="other", max_tokens=30)
    env.gate.admit(call)
    p = call.prompt_tokens
    assert token_headers(env, k, "other")["x-ratelimit-remaining-tokens"] == str(50 - p - 30)
    call.status, call.completion_tokens = 200, 5
    env.gate.settle(call)
    assert token_headers(env, k, "other")["x-ratelimit-remaining-tokens"] == str(50 - p - 5)


def test_worker_usage_drives_the_refund(env: Env) -> None:
    k = key("small")
    call = env.chat(k, model="other", max_tokens=30)
    env.gate.admit(call)
    call.status, call.prompt_tokens, call.completion_tokens = 200, 11, 7
    env.gate.settle(call)
    assert token_headers(env, k, "other")["x-ratelimit-remaining-tokens"] == str(50 - 18)


def test_a_failed_call_is_charged_no_tokens_and_a_cut_one_keeps_its_reservation(
    env: Env,
) -> None:
    k = key("small")
    failed = env.chat(k, model="other", max_tokens=10)
    env.gate.admit(failed)
    failed.status = 503
    env.gate.settle(failed)
    assert token_headers(env, k, "other")["x-ratelimit-remaining-tokens"] == "50"
    cut = env.chat(k, model="other", max_tokens=10)
    env.gate.admit(cut)
    cut.status = 200  # no usage known
    env.gate.settle(cut)
    assert token_headers(env, k, "other")["x-ratelimit-remaining-tokens"] == str(
        50 - cut.reserved_tokens
    )


def test_key_limits_from_keys_create_replace_the_tier(env: Env) -> None:
    k = key("nobody", rpm=2)  # tier default: key_rpm 5, replaced by 2
    env.gate.admit(env.chat(k))
    h = hdrs(env.gate.admit(env.chat(k)))
    assert h["x-ratelimit-limit-requests"] == "2"
    assert "x-ratelimit-limit-tokens" not in h  # no token limit anywhere for this key
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.chat(k))
    assert info.value.status == 429 and "key key_1" in info.value.message


def test_n_choices_reserve_n_times_max_tokens(env: Env) -> None:
    call = env.chat(key("acme"), max_tokens=7, n=3)
    env.gate.admit(call)
    assert call.reserved_tokens == call.prompt_tokens + 21


def test_best_of_reserves_every_sequence_the_worker_generates(env: Env) -> None:
    call = env.completion(key("acme"), "hello", max_tokens=7, n=2, best_of=5)
    env.gate.admit(call)
    assert call.reserved_tokens == call.prompt_tokens + 35  # 5 generated, 2 answered


def test_each_choice_fits_the_context_on_its_own(env: Env) -> None:
    # context 1000: 490 + 500 fits once; n = 3 asks three such choices, not 1500 tokens
    k = key("nobody")
    call = env.completion(k, [1] * 490, max_tokens=500, n=3)
    env.gate.admit(call)
    assert call.reserved_tokens == 490 + 1500
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.completion(k, [1] * 501, max_tokens=500, n=3))
    assert "1001 tokens (501 in the prompt, 500 in the completion)" in info.value.message


def test_each_prompt_of_an_array_fits_the_context_on_its_own(env: Env) -> None:
    """A completions array is a completion per prompt, each in its own context: two
    prompts of 600 tokens (context 1000) were refused as 1200 in one. The worker
    generates n choices for every prompt: all of them are reserved (only n were)."""
    k = key("nobody")
    texts = env.completion(k, ["hello", "hello world", "x"], max_tokens=7)
    env.gate.admit(texts)
    assert texts.reserved_tokens == texts.prompt_tokens + 3 * 7
    call = env.completion(k, [[1] * 600, [2] * 600], max_tokens=20, n=2)
    env.gate.admit(call)
    assert call.prompt_tokens == 1200
    assert call.reserved_tokens == 1200 + 2 * 2 * 20
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.completion(k, [[1] * 600, [2] * 981], max_tokens=20))
    err = info.value
    assert (err.status, err.code, err.param) == (400, "context_length_exceeded", "prompt[1]")
    assert "1001 tokens (981 in the prompt[1], 20 in the completion)" in err.message


def test_the_default_max_tokens_yields_to_a_prompt_that_fits(env: Env) -> None:
    """No max_tokens from the client: a prompt leaving less room than the model's default
    (20) was a 400 saying the client asked for 20 completion tokens. OpenAI serves any
    prompt that fits, generating into the room left: the worker is sent that room."""
    k = key("nobody")
    call = env.completion(k, [1] * 990, n=2)
    env.gate.admit(call)
    assert call.plan.max_tokens == 10
    assert orjson.loads(call.plan.body)["max_tokens"] == 10
    assert call.reserved_tokens == 990 + 2 * 10
    chat = env.chat(k, messages=[{"role": "user", "content": "hi " * 950}])
    env.gate.admit(chat)
    room = 1000 - chat.prompt_tokens
    assert 0 < room < 20
    sent = orjson.loads(chat.plan.body)
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == room
    env.gate.admit(env.completion(k, [1] * 999))  # one token of room is room
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.completion(k, [1] * 1000))
    assert "1001 tokens (1000 in the prompt, 1 in the completion)" in info.value.message
    # a max_tokens the client gave is never cut
    with pytest.raises(ApiError):
        env.gate.admit(env.completion(k, [1] * 990, max_tokens=20))


def test_a_config_without_tiers_limits_nothing(make_env: Callable[[str], Env]) -> None:
    env = make_env("[[models]]" + CONFIG.split("[[models]]", 1)[1])
    for _ in range(20):
        assert env.gate.admit(env.chat(key("acme"))) == []


def test_context_guard_before_any_worker(env: Env) -> None:
    k = key("nobody")
    ok = env.completion(k, [1] * 980, max_tokens=20)  # exactly the context (1000)
    env.gate.admit(ok)
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.completion(k, [1] * 981, max_tokens=20))
    err = info.value
    assert (err.status, err.code, err.param) == (400, "context_length_exceeded", "prompt")
    assert "1001 tokens (981 in the prompt, 20 in the completion)" in err.message


@pytest.mark.parametrize(
    ("tiers", "why"),
    [
        ('[tenants.x]\ntier = "gold"\n', "unknown tier 'gold'"),
        ("[tiers.t]\nkey_rpm = 0\n", "key_rpm must be at least 1"),
        ("[tiers.t.models.nope]\nrpm = 3\n", "unknown model 'nope'"),
        ("[tiers.t]\nkey_rps = 3\n", "key_rps"),
    ],
)
def test_tier_config_is_checked(tiers: str, why: str) -> None:
    models = "[[models]]" + CONFIG.split("[[models]]", 1)[1]
    with pytest.raises(ConfigError, match=why):
        parse(tiers + "\n" + models)


def test_context_guard_counts_chat_prompts_with_the_tokenizer(env: Env) -> None:
    k = key("nobody")
    long = "word " * 990  # ~990 tokens with Llama 3's tokenizer, + template + 20
    with pytest.raises(ApiError) as info:
        env.gate.admit(env.chat(k, messages=[{"role": "user", "content": long}], max_tokens=20))
    assert (info.value.status, info.value.code) == (400, "context_length_exceeded")
    assert info.value.param == "messages"
    short = env.chat(k, messages=[{"role": "user", "content": "word " * 100}], max_tokens=20)
    env.gate.admit(short)
    # 100 words + Llama 3.1's template (system header with its dates, user, assistant)
    assert 100 < short.prompt_tokens < 140


def test_a_prompt_refused_at_admission_is_never_encoded_for_the_worker(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's body is built when the proxy asks for it: a refused 16 MiB prompt
    must not cost its encoding on the event loop first."""
    encoded: list[object] = []
    real = request_policy._encode
    monkeypatch.setattr(request_policy, "_encode", lambda up: encoded.append(up) or real(up))
    k = key("nobody")
    long = env.chat(k, messages=[{"role": "user", "content": "word " * 990}], max_tokens=20)
    with pytest.raises(ApiError):
        env.gate.admit(long)
    assert encoded == []
    short = env.chat(k, messages=[{"role": "user", "content": "word " * 10}], max_tokens=20)
    env.gate.admit(short)
    body = orjson.loads(short.plan.body)
    assert body["messages"] == [{"role": "user", "content": "word " * 10}]
    assert 20 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    assert len(encoded) == 1
    assert short.plan.body is short.plan.body and len(encoded) == 1  # encoded once


def test_models_without_a_tokenizer_use_the_estimate_and_it_is_counted(env: Env) -> None:
    call = env.chat(key("nobody"), model="other", messages=[{"role": "user", "content": "x" * 40}])
    env.gate.admit(call)
    assert call.prompt_tokens == 3 + 4 + 10  # per request, per message, 40 bytes / 4
    assert 'provocapi_token_estimates_total{model="other"} 1' in env.telemetry.render()
    # no guard on an estimate: the worker decides
    huge = env.chat(
        key("nobody"), model="other", messages=[{"role": "user", "content": "y" * 40000}]
    )
    env.gate.admit(huge)


def test_settle_takes_the_tokens_it_is_given(env: Env) -> None:
    """Counting an answer without usage is the proxy's (tests/gateway/test_call_record.py):
    settle refunds from the call's numbers and never changes them."""
    k = key("nobody")
    kept = env.chat(k)
    env.gate.admit(kept)
    kept.status, kept.prompt_tokens, kept.completion_tokens = 200, 5, 6  # the worker's
    env.gate.settle(kept)
    assert (kept.prompt_tokens, kept.completion_tokens) == (5, 6)
    unknown = env.chat(k)
    env.gate.admit(unknown)
    unknown.status = 200
    env.gate.settle(unknown)
    assert unknown.completion_tokens is None
