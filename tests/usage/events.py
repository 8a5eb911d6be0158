"""Usage rows for the store tests, and the answer they must give, computed here
in plain Python (the reference the stores' SQL is held to)."""

from __future__ import annotations

import random
from collections import defaultdict

from provocapi.usage.event import BEGIN, END, Row, Values, values
from provocapi.usage.stores import UsageQuery, UsageRow


def row(
    event_id: str,
    *,
    tenant: str = "acme",
    day: str = "2026-11-20",
    model: str = "llama-3.1-8b-instruct",
    adapter: str = "",
    status: int = 200,
    stream: bool = False,
    ttft_ms: float | None = None,
    latency_ms: float = 100.0,
    prompt: int = 10,
    completion: int = 5,
    error_code: str = "",
    version: int = END,
) -> Row:
    interrupted = version == BEGIN
    return {
        "event_id": event_id,
        "version": version,
        "day": day,
        "started_ms": 1_763_600_000_000,
        "request_id": "req_" + event_id,
        "tenant": tenant,
        "key_id": "key_1",
        "model_asked": model,
        "model": model,
        "adapter": adapter,
        "worker": "" if interrupted else "http://127.0.0.1:1",
        "endpoint": "/v1/chat/completions",
        "stream": int(stream),
        "status": 0 if interrupted else status,
        "outcome": "interrupted" if interrupted else ("completed" if status == 200 else "error"),
        "error_code": error_code,
        "prompt_tokens": 0 if interrupted else prompt,
        "completion_tokens": 0 if interrupted else completion,
        "queue_ms": 0.25,
        "ttft_ms": None if interrupted else ttft_ms,
        "latency_ms": 0.0 if interrupted else latency_ms,
    }


def values_of(rows: list[Row]) -> list[Values]:
    """Rows as a store takes them (values in COLUMNS order)."""
    return [values(r) for r in rows]


def mixed(seed: int = 5, n: int = 400) -> list[Row]:
    """Tenants, days, models (adapters folded in), every kind of ending."""
    rnd = random.Random(seed)
    rows: list[Row] = []
    for i in range(n):
        kind = rnd.random()
        stream = rnd.random() < 0.5
        kw: dict[str, object] = {
            "tenant": rnd.choice(["acme", "acme", "o'brien\\co"]),
            "day": rnd.choice(["2026-11-19", "2026-11-20", "2026-11-21"]),
            "model": rnd.choice(["llama-3.1-8b-instruct", "bge-m3", "qwen-2.5-72b-instruct"]),
            "adapter": rnd.choice(["", "", "sql"]),
            "stream": stream,
            "latency_ms": round(rnd.uniform(1, 2000), 3),
            "ttft_ms": round(rnd.uniform(0.5, 300), 3) if stream and rnd.random() < 0.9 else None,
            "prompt": rnd.randint(0, 4000),
            "completion": rnd.randint(0, 800),
        }
        if kind < 0.08:
            kw["version"] = BEGIN  # cut by a crash: interrupted
        elif kind < 0.16:
            kw["status"] = rnd.choice([429, 400, 502, 499])
        elif kind < 0.2:
            kw["error_code"] = "stream_failed"
        rows.append(row(f"ev_{seed}_{i:05d}", **kw))  # type: ignore[arg-type]
    # a few exact ties, so ranks are what decides
    for j in range(5):
        rows.append(row(f"ev_tie_{j}", latency_ms=50.0, stream=True, ttft_ms=7.0))
    return rows


def _rank(p: int, n: int) -> int:
    # nearest rank: the smallest value with at least p% of the values <= it
    r = 1
    while r * 100 < p * n:
        r += 1
    return r


def _pcts(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return (None, None, None)
    s = sorted(values)
    return tuple(s[_rank(p, len(s)) - 1] for p in (50, 90, 99))  # type: ignore[return-value]


def expected(rows: list[Row], q: UsageQuery) -> list[UsageRow]:
    latest: dict[str, Row] = {}
    for r in rows:
        old = latest.get(r["event_id"])
        if old is None or r["version"] > old["version"]:
            latest[r["event_id"]] = r
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in latest.values():
        if r["tenant"] != q.tenant or not q.start <= r["day"] <= q.end:
            continue
        if q.model is not None and r["model"] != q.model:
            continue
        groups[(r["day"], r["model"])].append(r)
    out = []
    for (day, model), rs in sorted(groups.items()):
        ok = [r for r in rs if 200 <= r["status"] < 300 and not r["error_code"]]
        out.append(
            UsageRow(
                day,
                model,
                len(rs),
                sum(r["prompt_tokens"] for r in rs),
                sum(r["completion_tokens"] for r in rs),
                _pcts([r["latency_ms"] for r in ok]),
                _pcts([r["ttft_ms"] for r in ok if r["stream"] and r["ttft_ms"] is not None]),
            )
        )
    return out
