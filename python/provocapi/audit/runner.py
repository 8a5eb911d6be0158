"""Every case of the golden set sent to both sides, `repeat` times, `concurrency` in
flight per side; chat streamed so the first token is timed."""

from __future__ import annotations

import base64
import json
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import assemble
from .golden import Case
from .progress import Progress
from .verdicts import envelope, short
from .wire import Endpoint


@dataclass
class Side:
    name: str  # "a" | "b"
    ep: Endpoint
    model: str | None  # overrides chat cases' model


@dataclass
class Run:
    case: str
    side: str
    rep: int
    ok: bool = False
    error: str = ""
    text: str = ""
    calls: list[assemble.Call] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    vector: list[float] | None = None

    @property
    def output(self) -> str:
        """What the run answered, as text: its content, or its calls written out."""
        if self.calls:
            return "; ".join(f"{c.name}({c.arguments})" for c in self.calls)
        return self.text

    @property
    def tokens_per_s(self) -> float | None:
        n = self.completion_tokens
        if not self.ok or not n:
            return None
        decode = self.latency_s - (self.ttft_s or 0.0)
        if n > 1 and decode > 0:
            return (n - 1) / decode
        return n / self.latency_s if self.latency_s > 0 else None


def _error(status: int, body: bytes, failure: str) -> str:
    if status == 0:
        return f"no answer: {short(failure, 120)}"
    try:
        err = envelope(json.loads(body))
    except ValueError:
        err = None
    detail = err["message"] if err else body.decode(errors="replace")
    return f"HTTP {status}: {short(detail, 120)}"


def run_chat(side: Side, case: Case, rep: int) -> Run:
    body = dict(case.body)
    if side.model:
        body["model"] = side.model
    body["stream_options"] = {"include_usage": True}
    s = side.ep.stream("/chat/completions", body)
    run = Run(case.id, side.name, rep, latency_s=s.elapsed_s, ttft_s=s.ttft_s)
    if s.status != 200 or s.body or s.failure:
        run.error = _error(s.status, s.body, s.failure)
        return run
    if s.malformed or not s.done:
        run.error = "malformed stream" if s.malformed else "stream ended without [DONE]"
        return run
    a = assemble.chat_stream(s.events)
    run.text = a.text
    run.calls = a.first_calls
    if a.usage:
        run.prompt_tokens = _int(a.usage.get("prompt_tokens"))
        run.completion_tokens = _int(a.usage.get("completion_tokens"))
    run.ok = True
    return run


def run_embeddings(side: Side, case: Case, rep: int) -> Run:
    reply = side.ep.post("/embeddings", case.body)
    run = Run(case.id, side.name, rep, latency_s=reply.elapsed_s)
    body = reply.json()
    if reply.status != 200 or not isinstance(body, dict):
        run.error = _error(reply.status, reply.body, reply.failure)
        return run
    data = body.get("data")
    first = data[0].get("embedding") if isinstance(data, list) and data else None
    run.vector = _vector(first)
    if run.vector is None:
        run.error = "no embedding in the answer"
        return run
    run.prompt_tokens = _int((body.get("usage") or {}).get("prompt_tokens"))
    run.ok = True
    return run


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _vector(v: Any) -> list[float] | None:
    if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
        return [float(x) for x in v]
    if isinstance(v, str):
        try:
            raw = base64.b64decode(v)
        except ValueError:
            return None
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
    return None


def run_all(
    cases: list[Case], sides: list[Side], repeat: int, concurrency: int, progress: Progress
) -> list[Run]:
    """All runs, in (case, repetition, side) order."""
    pools = {s.name: ThreadPoolExecutor(max(1, concurrency)) for s in sides}
    futures: list[Future[Run]] = []

    def one(side: Side, case: Case, rep: int) -> Run:
        try:
            run = (run_chat if case.kind == "chat" else run_embeddings)(side, case, rep)
        except Exception as e:  # one odd answer must not sink the whole comparison
            run = Run(case.id, side.name, rep, error=f"{type(e).__name__}: {e}")
        progress.step(run.ok)
        return run

    try:
        for rep in range(repeat):
            for case in cases:
                for side in sides:
                    futures.append(pools[side.name].submit(one, side, case, rep))
        return [f.result() for f in futures]
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True)
        progress.finish()
