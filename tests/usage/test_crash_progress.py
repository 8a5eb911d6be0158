"""kill -9 of a Granian worker in the middle of long streams: the flusher process
stores them as interrupted with their prompt tokens and the completion tokens they
had relayed up to the last progress tick (at most a second before the kill)."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from pathlib import Path

import httpx2
import orjson
from harness.gateway import Gateway
from harness.proctree import granian_workers
from harness.waiting import poll
from provocapi.sim.process import SimHandle

from .clickhouse_server import ClickHouse
from .gateway_stack import make_gateway

STREAMS = 4
# the progress tick is 1 s; a second more of slack for a busy two-core machine
SLACK_S = 2.0


class Stream:
    """One long stream (the slow model: 40 ms a token), its token chunks timed."""

    def __init__(self, gw: Gateway, key: str, request_id: str) -> None:
        self.url = f"{gw.url}/v1/chat/completions"
        self.headers = {"Authorization": f"Bearer {key}", "X-Request-Id": request_id}
        self.seen: list[float] = []  # arrival time of each token chunk
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = {"model": "gpt-4o", "stream": True,
                "messages": [{"role": "user", "content": "tell me a long story"}]}  # fmt: skip
        try:
            with httpx2.Client(timeout=30, trust_env=False) as c:
                with c.stream("POST", self.url, json=body, headers=self.headers) as r:
                    for ln in r.iter_lines():
                        if not ln.startswith("data: {"):
                            continue
                        choices = orjson.loads(ln[6:]).get("choices") or []
                        if choices and "role" not in choices[0].get("delta", {}):
                            self.seen.append(time.monotonic())
        except httpx2.HTTPError:
            pass  # cut by the kill

    def by(self, t: float) -> int:
        return sum(1 for s in self.seen if s <= t)


def interrupted(ch: ClickHouse, database: str) -> dict[str, tuple[int, int, int]]:
    if ch.query(f"EXISTS TABLE {database}.usage_events").strip() != "1":
        return {}
    text = ch.query(
        f"SELECT request_id, version, prompt_tokens, completion_tokens "
        f"FROM {database}.usage_events FINAL WHERE outcome = 'interrupted' FORMAT TSV"
    )
    out = {}
    for ln in text.splitlines():
        rid, version, pt, ct = ln.split("\t")
        out[rid] = (int(version), int(pt), int(ct))
    return out


def test_a_killed_worker_keeps_its_streams_tokens(
    tmp_path: Path, sims: SimHandle, clickhouse: ClickHouse
) -> None:
    database = "progress_" + secrets.token_hex(4)
    gw = make_gateway(tmp_path, sims, clickhouse, flush_ms=100, workers=1, database=database)
    gw.start()
    try:
        key = gw.new_keys("acme")["acme"]
        (victim,) = granian_workers(gw.pid)
        streams = {f"cut-{i}": Stream(gw, key, f"cut-{i}") for i in range(STREAMS)}
        for s in streams.values():
            s.thread.start()
        # every stream relaying for more than two seconds (two progress ticks at least)
        assert poll(lambda: all(len(s.seen) >= 60 for s in streams.values()), bool, 30)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        for s in streams.values():
            s.thread.join(30)
        rows = poll(lambda: interrupted(clickhouse, database), lambda r: len(r) >= STREAMS, 30)
        assert set(rows) == set(streams)
        prompts = {pt for _, pt, _ in rows.values()}
        assert len(prompts) == 1 and prompts.pop() > 0  # admission's count, the same prompt
        for rid, (version, _, completion) in rows.items():
            s = streams[rid]
            lower, total = s.by(killed_at - SLACK_S), len(s.seen)
            assert version == 2, rid  # an interrupted row with relayed tokens
            assert lower <= completion <= total, (rid, lower, completion, total)
            assert lower > 0
    finally:
        gw.stop()
