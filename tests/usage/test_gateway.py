"""Usage through a real gateway (`provocapi serve --workers 2`, ClickHouse store):
the official SDK's requests show up in GET /v1/usage, per tenant, per day and model."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import openai
import pytest
from harness.gateway import Gateway
from harness.waiting import poll
from provocapi.sim.process import SimHandle

from .clickhouse_server import ClickHouse
from .gateway_stack import ADMIN_KEY, make_gateway, usage

TODAY = time.strftime("%Y-%m-%d", time.gmtime())


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, sims: SimHandle, clickhouse: ClickHouse
) -> Iterator[Gateway]:
    g = make_gateway(tmp_path_factory.mktemp("usage-gw"), sims, clickhouse, 100, workers=2)
    g.start()
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture(scope="module")
def tenant_keys(gw: Gateway) -> dict[str, str]:
    return gw.new_keys("acme", "beta")


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def rows_of(gw: Gateway, key: str, **params: str) -> list[dict]:
    r = usage(gw, key, start_date=TODAY, end_date=TODAY, **params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def total(rows: list[dict]) -> int:
    return sum(r["requests"] for r in rows)


@pytest.fixture(scope="module")
def traffic(gw: Gateway, tenant_keys: dict[str, str]) -> dict[str, int]:
    """acme's calls; returns the token totals the SDK saw for llama-3.1-8b-instruct."""
    c = client(gw, tenant_keys["acme"])
    prompt = completion = 0
    for i in range(3):
        r = c.chat.completions.create(
            model="gpt-4o-mini" if i else "llama-3.1-8b-instruct:sql",
            messages=[{"role": "user", "content": f"count to {i}"}],
        )
        assert r.usage is not None
        prompt += r.usage.prompt_tokens
        completion += r.usage.completion_tokens
    for _ in range(2):
        stream = c.chat.completions.create(
            model="llama-3.1-8b-instruct",
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage is not None:
                prompt += chunk.usage.prompt_tokens
                completion += chunk.usage.completion_tokens
    emb = c.embeddings.create(model="bge-m3", input=["one", "two"])
    with pytest.raises(openai.InternalServerError):  # reaches admission, then no worker
        c.chat.completions.create(
            model="offline-llama", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.NotFoundError):  # never reaches admission: not recorded
        c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):  # rejected while decoding: not recorded
        c.chat.completions.create(model="gpt-4o-mini", messages=[])
    return {"prompt": prompt, "completion": completion, "emb_prompt": emb.usage.prompt_tokens}


def test_every_admitted_call_is_in_the_store(
    gw: Gateway, tenant_keys: dict[str, str], traffic: dict[str, int]
) -> None:
    key = tenant_keys["acme"]
    rows = poll(lambda: rows_of(gw, key), lambda rs: total(rs) >= 7)
    by_model = {r["model"]: r for r in rows}
    assert set(by_model) == {"llama-3.1-8b-instruct", "bge-m3", "offline-llama"}
    llama = by_model["llama-3.1-8b-instruct"]
    assert llama["date"] == TODAY
    assert llama["requests"] == 5  # the adapter call folded into its model
    assert llama["prompt_tokens"] == traffic["prompt"] > 0
    assert llama["completion_tokens"] == traffic["completion"] > 0
    assert llama["total_tokens"] == traffic["prompt"] + traffic["completion"]
    lat = llama["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    ttft = llama["ttft_ms"]
    assert ttft["p50"] is not None and ttft["p99"] <= lat["p99"]
    emb = by_model["bge-m3"]
    assert (emb["requests"], emb["prompt_tokens"]) == (1, traffic["emb_prompt"])
    assert emb["ttft_ms"] == {"p50": None, "p90": None, "p99": None}
    down = by_model["offline-llama"]
    assert down["requests"] == 1
    assert down["latency_ms"] == {"p50": None, "p90": None, "p99": None}  # not a 2xx


def test_tenants_see_only_their_own(
    gw: Gateway, tenant_keys: dict[str, str], traffic: dict[str, int]
) -> None:
    acme = poll(lambda: rows_of(gw, tenant_keys["acme"]), lambda rs: total(rs) >= 7)
    assert rows_of(gw, tenant_keys["beta"]) == []
    r = usage(gw, tenant_keys["beta"], start_date=TODAY, end_date=TODAY, tenant="acme")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"
    assert rows_of(gw, ADMIN_KEY, tenant="acme") == acme
    assert rows_of(gw, ADMIN_KEY, tenant="beta") == []
    r = usage(gw, ADMIN_KEY, start_date=TODAY, end_date=TODAY)
    assert r.status_code == 400 and "tenant" in r.json()["error"]["message"]


def test_answers_match_the_openapi_document(
    gw: Gateway, tenant_keys: dict[str, str], traffic: dict[str, int]
) -> None:
    import jsonschema

    with httpx2.Client(trust_env=False) as c:
        doc = c.get(f"{gw.url}/openapi.json").json()
    assert "/v1/usage" in doc["paths"]
    schema = {**doc["components"]["schemas"]["UsageList"], "components": doc["components"]}
    poll(lambda: rows_of(gw, tenant_keys["acme"]), lambda rs: total(rs) >= 7)
    body = usage(gw, tenant_keys["acme"], start_date=TODAY, end_date=TODAY).json()
    jsonschema.validate(body, schema)
    assert body["object"] == "list" and body["start_date"] == body["end_date"] == TODAY


def test_model_filter_takes_aliases(
    gw: Gateway, tenant_keys: dict[str, str], traffic: dict[str, int]
) -> None:
    poll(lambda: rows_of(gw, tenant_keys["acme"]), lambda rs: total(rs) >= 7)
    for name in ("gpt-4o-mini", "llama-3.1-8b-instruct", "llama-3.1-8b-instruct:sql"):
        (row,) = rows_of(gw, tenant_keys["acme"], model=name)
        assert (row["model"], row["requests"]) == ("llama-3.1-8b-instruct", 5)
    assert rows_of(gw, tenant_keys["acme"], model="no-such-model") == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, "Missing required query parameter 'start_date'"),
        ({"start_date": "2026-01-01"}, "Missing required query parameter 'end_date'"),
        ({"start_date": "2026-1-1", "end_date": "2026-01-02"}, "YYYY-MM-DD"),
        ({"start_date": "2026-02-30", "end_date": "2026-03-01"}, "not a date"),
        ({"start_date": "yesterday", "end_date": "2026-03-01"}, "not a date"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "before start_date"),
        ({"start_date": "2026-01-01", "end_date": "2026-03-01"}, "at most 31 days"),
        ({"start_date": "2026-01-01", "end_date": "2026-01-01", "limit": "3"}, "Unknown"),
    ],
)
def test_bad_parameters_are_400(
    gw: Gateway, tenant_keys: dict[str, str], params: dict[str, str], words: str
) -> None:
    r = usage(gw, tenant_keys["acme"], **params)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert words in err["message"]
    assert err["type"] == "invalid_request_error"


def test_keys_are_checked(gw: Gateway) -> None:
    r = usage(gw, "pk-prov-not-a-key", start_date=TODAY, end_date=TODAY)
    assert r.status_code == 401
    with httpx2.Client(trust_env=False) as c:
        r = c.post(f"{gw.url}/v1/usage")
    assert r.status_code == 405


def test_metrics_show_the_spool_and_the_flusher(
    gw: Gateway, tenant_keys: dict[str, str], traffic: dict[str, int]
) -> None:
    poll(lambda: rows_of(gw, tenant_keys["acme"]), lambda rs: total(rs) >= 7)
    with httpx2.Client(trust_env=False) as c:
        text = c.get(f"{gw.url}/metrics").text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("provocapi_usage_")
    }
    assert values["provocapi_usage_spool_limit_bytes"] == 1 << 30
    assert 0 <= values["provocapi_usage_spool_fill_ratio"] < 1
    assert values["provocapi_usage_events_flushed_total"] >= 7
    assert values["provocapi_usage_store_errors_total"] == 0
    assert "provocapi_usage_flush_lag_seconds" in values
