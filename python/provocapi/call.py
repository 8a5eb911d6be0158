"""One request's record as it moves through the pipeline.

Handlers fill the top (who, what); admission, routing, the relay and usage fill
the rest. Subsystems read and write this instead of passing values around, so a
new one (batch, adapters store) plugs in without changing the others' calls.
Every field below the top has one writer, named beside it; the others only read.
What the client was sent is not here: the request's `Reply` owns that (asgi.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ._core import StreamRelay
from .catalog import Resolved
from .keys import KeyRecord


@dataclass(slots=True)
class Call:
    endpoint: str  # "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
    kind: str  # "chat" | "completion" | "embedding"
    key: KeyRecord
    res: Resolved
    request_id: str  # the client's X-Request-Id or ours (not unique: SDK retries resend it)
    model_asked: str  # the model name as the client wrote it
    plan: Any  # request_policy.GenerationPlan or EmbeddingPlan
    request: Any = None  # the decoded request Struct (messages/prompt/input for counting)
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    stream: bool = False
    # set by the call's source when it is not an online client (batch/line_call.py): a
    # batch line's usage event id derives from (batch, line), so a re-run replaces it
    event_id: str | None = None
    batch_id: str = ""
    # filled along the way, each by one owner
    # admission's count, replaced by the worker's usage (proxy), else counted from the
    # answer's text by the proxy: filled before usage ends, whatever the admission
    prompt_tokens: int | None = None
    completion_tokens: int | None = None  # proxy: the worker's usage, else the text counted
    reserved_tokens: int = 0  # admission: what it charged (prompt + max output)
    max_output_tokens: int = 0  # admission: what the worker was allowed to generate
    admission_hold: object = None  # admission's own record of the charge, for settle
    worker: str | None = None  # routing: the worker of the current attempt
    queue_ms: float = 0.0  # routing: time waiting for a worker
    answered_s: float | None = None  # routing: an attempt answered; its TTFT (or end)
    ttft_s: float | None = None  # proxy: first bytes relayed
    finish_reason: str | None = None  # proxy
    relay: StreamRelay | None = None  # proxy: the open stream (usage's progress lines read it)
    status: int = 0  # pipeline: the outcome usage records (the reply's, or the error's)
    error_code: str | None = None  # pipeline: the error's code, or a relayed stream's failure
    usage_row: dict[str, Any] | None = None  # usage: the begin line, until the call ends

    @property
    def model_id(self) -> str:
        return self.res.model.id

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started
