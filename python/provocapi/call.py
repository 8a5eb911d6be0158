"""One request's record as it moves through the pipeline.

Handlers fill the top (who, what); admission, routing, the relay and usage fill
the rest. Subsystems read and write this instead of passing values around, so a
new one (batch, adapters store) plugs in without changing the others' calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

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
    plan: Any  # request_policy.Plan or EmbeddingPlan
    request: Any = None  # the decoded request Struct (messages/prompt/input for counting)
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    stream: bool = False
    # filled along the way
    prompt_tokens: int | None = None  # counted at admission, replaced by the worker's usage
    completion_tokens: int | None = None
    reserved_tokens: int = 0  # what admission charged (prompt + max output)
    max_output_tokens: int = 0  # what the worker was allowed to generate
    worker: str | None = None
    queue_ms: float = 0.0
    ttft_s: float | None = None
    finish_reason: str | None = None
    status: int = 0
    error_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # subsystem scratch space

    @property
    def model_id(self) -> str:
        return self.res.model.id

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started
