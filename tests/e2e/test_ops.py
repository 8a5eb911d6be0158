"""Health, the gateway's own OpenAPI document, and Prometheus metrics."""

from __future__ import annotations

import re

import httpx2
import openai

from .conftest import Stack

SERVED_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models")
_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{.*\})?\s+(?P<value>\S+)(\s+-?\d+)?$"
)


def test_health(raw: httpx2.Client) -> None:
    r = raw.get("/health")
    assert r.status_code == 200


def test_openapi_json(raw: httpx2.Client, auth: dict[str, str]) -> None:
    r = raw.get("/openapi.json", headers=auth)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert isinstance(doc, dict)
    assert str(doc.get("openapi", "")).startswith("3."), doc.get("openapi")
    assert isinstance(doc.get("info"), dict) and doc["info"].get("title")
    paths = doc.get("paths")
    assert isinstance(paths, dict)
    for p in SERVED_PATHS:
        assert p in paths, f"/openapi.json does not describe {p}: {sorted(paths)}"
    assert "post" in paths["/v1/chat/completions"]
    assert "post" in paths["/v1/embeddings"]
    assert "get" in paths["/v1/models"]
    assert any(re.fullmatch(r"/v1/models/\{[^}]+\}", p) for p in paths), sorted(paths)


def _parse_metrics(text: str) -> dict[str, list[tuple[str, float]]]:
    samples: dict[str, list[tuple[str, float]]] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        m = _SAMPLE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        samples.setdefault(m["name"], []).append((m["labels"] or "", float(m["value"])))
    assert types, "no # TYPE lines"
    return samples


def _request_counter_total(text: str) -> float:
    samples = _parse_metrics(text)
    names = [n for n in samples if "request" in n and n.endswith("_total")]
    assert names, f"no request counter (…request…_total) in: {sorted(samples)}"
    return sum(v for n in names for _, v in samples[n])


def test_metrics(raw: httpx2.Client, client: openai.OpenAI, stack: Stack) -> None:
    r = raw.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    ctype = r.headers["content-type"]
    assert ctype.startswith(("text/plain", "application/openmetrics-text")), ctype
    before = _request_counter_total(r.text)
    client.chat.completions.create(
        model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    after = _request_counter_total(raw.get("/metrics").text)
    assert after > before, f"request counters did not move: {before} → {after}"
