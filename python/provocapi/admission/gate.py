"""The admission the gateway runs: count the prompt, guard the context, charge
the buckets; refund unused tokens when the answer ends.

Refusals are OpenAI's: 429 `rate_limit_exceeded` with Retry-After (whole
seconds, at most 60) and retry-after-ms; a request that could never fit its
bucket also says `x-should-retry: false`, so the SDKs do not wait for nothing.

No request's counting stalls the others: a prompt is counted only up to what
its model can take (the context window; an embedding input's limit), and a
large one (`OFF_LOOP_CHARS`) on a thread, where the core releases the GIL, so
the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from .._core import BucketSet, StateTable
from ..call import Call
from ..config import Config
from ..error_catalog import CONTEXT_LENGTH_EXCEEDED, OVER_RATE_LIMIT, RATE_LIMITED
from ..errors import ApiError
from ..telemetry import Telemetry
from . import embedding_limits
from .counting import Counter, Prompt
from .leases import Leases, RedisDown
from .limits import Limits, LimitTable

Headers = list[tuple[bytes, bytes]]
_UNIT = {"requests": "requests per min (RPM)", "tokens": "tokens per min (TPM)"}

# Prompts of more characters than this are counted on a thread. Below it a
# count takes well under a millisecond, less than the hop to a thread and back.
OFF_LOOP_CHARS = 64 * 1024
COUNT_THREADS = 2


def _count_thread_start() -> None:
    """A counting thread yields its core to the event loop at once: SCHED_IDLE (Linux,
    per thread: the kernel's lowest weight, preempted by any normal thread that wakes),
    else the lowest niceness."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (OSError, AttributeError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (OSError, AttributeError):
        pass


class Charged(NamedTuple):
    """What admission charged a call (kept on the call for `settle`)."""

    limits: Limits
    mode: str  # "local" | "global" (Redis leases) | "fallback" (Redis down)


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.3f}".rstrip("0").rstrip(".") + "s"


class Gate:
    def __init__(
        self, cfg: Config, table: StateTable, telemetry: Telemetry, counter: Counter | None = None
    ) -> None:
        self.limits = LimitTable(cfg, table)
        self.telemetry = telemetry
        self.counter = counter or Counter(cfg)
        self.leases = Leases(cfg.redis_url, telemetry) if cfg.redis_url else None
        self.loops = [self.leases.run] if self.leases else []
        self.table = table
        self.pool = ThreadPoolExecutor(
            COUNT_THREADS, thread_name_prefix="provocapi-count", initializer=_count_thread_start
        )
        for _ in range(COUNT_THREADS):  # started now, not by the first large prompt
            self.pool.submit(int)

    def configure(self, cfg: Config, counter: Counter | None = None) -> None:
        """A reload: new tiers and tenants' tiers, tokenizers for new models (Redis stays)."""
        self.limits = LimitTable(cfg, self.table)
        self.counter = counter or Counter(cfg)

    async def admit_async(self, call: Call) -> Headers:
        """`admit`, with a large prompt counted on a thread."""
        if call.kind == "embedding":
            embedding_limits.check_inputs(call.res.model, call.request.input)
        prompt = self.counter.gather(call)
        if prompt.tok is not None and prompt.chars() > OFF_LOOP_CHARS:
            loop = asyncio.get_running_loop()
            count = await loop.run_in_executor(self.pool, self._count, call, prompt)
        else:
            count = self._count(call, prompt)
        return self._charge(call, count)

    def admit(self, call: Call) -> Headers:
        if call.kind == "embedding":
            embedding_limits.check_inputs(call.res.model, call.request.input)
        return self._charge(call, self._count(call, self.counter.gather(call)))

    def _count(self, call: Call, prompt: Prompt) -> int:
        """The prompt's tokens, refused (400) when the model cannot take them."""
        # the context holds the prompt and one choice
        out = 0 if call.kind == "embedding" else int(call.plan.max_tokens)
        call.max_output_tokens = out * _sequences(call)  # the budget pays for all of them
        model = call.res.model
        # the model's default max_tokens (the client gave none) yields to the prompt, as on
        # OpenAI: a prompt fits while it leaves room for one token
        shrink = call.kind != "embedding" and call.plan.default_max_tokens
        asked = 1 if shrink else out
        room = model.context_length - asked
        if call.kind == "embedding":
            counts, exact = prompt.per_input(embedding_limits.per_input_limit(model))
            tokens = sum(counts)
        elif call.kind == "completion":
            # each prompt of an array is a completion of its own, in a context of its own;
            # the worker generates the choices of every one of them
            counts, exact = prompt.per_input(room if room > 0 else 0)
            tokens = sum(counts)
            call.max_output_tokens *= len(counts)
        else:
            tokens, exact = prompt.total(room if room > 0 else 0)
            counts = [tokens]
        call.prompt_tokens = tokens  # the worker's usage replaces it when it comes
        if not exact:
            self.telemetry.token_estimate(call.model_id)
        if call.kind == "embedding":
            embedding_limits.check_tokens(model, call.request.input, counts)
        elif exact and max(counts) > room:
            # token ids are counted in full; a tokenizer stopped once past the room
            raise _context_exceeded(call, counts, room, asked, prompt.ids is None)
        elif shrink and exact and max(counts) + out > model.context_length:
            fits = model.context_length - max(counts)
            call.plan.fit_max_tokens(fits)
            call.max_output_tokens = call.max_output_tokens // out * fits
        return tokens

    def _charge(self, call: Call, prompt: int) -> Headers:
        out = call.max_output_tokens
        if call.batch_id:
            # a batch line never draws on the online limits: the runner holds it to the
            # tier's batch_tpm instead (batch/priority.py); the context guard above still ran
            return []
        limits = self.limits.get(call.key, call.res.model.id)
        if limits is None:
            return []
        cost = prompt + out
        buckets, mode = limits.buckets, "local"
        if self.leases is not None and not self.leases.up():
            buckets, mode = self.leases.fallback(limits), "fallback"
        v = buckets.admit(1, cost)
        # the verdict's other fields are read only for a refusal (each a core getter)
        refused, headers = v.refused, v.headers
        lease_refusal: tuple[int, int] | None = None  # (wait_ns, used) of a lease refusal
        if refused is None and mode == "local" and self.leases is not None:
            mode = "global"
            try:
                refused, wait_ns = self.leases.take(limits, cost)
            except RedisDown:
                buckets, mode = self.leases.fallback(limits), "fallback"
                v = buckets.admit(1, cost)
                refused, headers = v.refused, v.headers
            else:
                if refused is not None:
                    buckets.refund(cost)  # the machine's own bucket keeps only the request
                    lease_refusal = (wait_ns, buckets.limits[refused][0])
        if refused is None:
            call.reserved_tokens = cost
            call.admission_hold = Charged(limits, mode)
            return headers
        never = v.never
        wait_ns, used = lease_refusal if lease_refusal is not None else (v.wait_ns, v.used)
        scope, unit = limits.names[refused]
        self.telemetry.admission_refused(scope.split(" ", 1)[0], unit)
        asked = 1 if unit == "requests" else cost
        raise _refusal(limits, buckets, refused, never, wait_ns, used, asked, headers)

    def settle(self, call: Call) -> None:
        """Refund what the call did not use. Its tokens are the proxy's (the worker's
        usage, else its text counted), filled before this runs."""
        got = call.admission_hold
        if not isinstance(got, Charged) or not call.reserved_tokens:
            return
        limits, mode = got.limits, got.mode
        if call.completion_tokens is not None:
            used = (call.prompt_tokens or 0) + call.completion_tokens
        elif call.status != 200:
            used = 0  # failed with no answer: a request, but no tokens, is charged
        else:
            used = call.reserved_tokens  # unknown output: keep the reservation
        unused = call.reserved_tokens - used
        if unused <= 0:
            return
        if mode == "fallback" and self.leases is not None:
            self.leases.fallback(limits).refund(unused)
            return
        limits.buckets.refund(unused)
        if mode == "global" and self.leases is not None:
            self.leases.give_back(limits, unused)  # leased already: reuse it here


def _sequences(call: Call) -> int:
    """How many sequences the worker generates: `n`, or a completion's `best_of` when
    higher (it generates them all and answers the best `n`)."""
    if call.kind == "embedding":  # one vector per input; its request has no `n`
        return 1
    req = call.request
    n = getattr(req, "n", None)
    seqs = n if isinstance(n, int) and n > 1 else 1
    if call.kind != "completion":  # only completions have it: a miss raises inside getattr
        return seqs
    best_of = getattr(req, "best_of", None)
    return best_of if isinstance(best_of, int) and best_of > seqs else seqs


def _context_exceeded(
    call: Call, counts: list[int], room: int, out: int, stopped: bool
) -> ApiError:
    """`stopped`: counting stopped once past the room left, so a count is a floor.
    `counts`: the prompt's tokens, or each prompt's of a completions array."""
    limit = call.res.model.context_length
    first = next(i for i, n in enumerate(counts) if n > room)
    prompt = counts[first]
    where = "messages" if call.kind == "chat" else "prompt"
    if len(counts) > 1:
        where = f"prompt[{first}]"
    more = "at least " if stopped else ""
    return CONTEXT_LENGTH_EXCEEDED.build(
        message=f"This model's maximum context length is {limit} tokens. However, you "
        f"requested {more}{prompt + out} tokens ({more}{prompt} in the {where}, {out} in the "
        f"completion). Please reduce the length of the {where} or completion.",
        param=where,
    )


def _refusal(
    limits: Limits,
    buckets: BucketSet,
    i: int,
    never: bool,
    wait_ns: int,
    used: int,
    asked: int,
    headers: Headers,
) -> ApiError:
    scope, unit = limits.names[i]
    limit = buckets.limits[i][0]
    if never:
        return OVER_RATE_LIMIT.build(
            scope=scope, unit=_UNIT[unit], limit=limit, asked=asked, headers=headers
        )
    wait_ms = max(1, -(-wait_ns // 1_000_000))
    retry_s = min(60, max(1, -(-wait_ns // 1_000_000_000)))
    return RATE_LIMITED.build(
        scope=scope,
        unit=_UNIT[unit],
        limit=limit,
        used=used,
        asked=asked,
        wait=_seconds(wait_ns),
        retry_after_s=retry_s,
        headers=[*headers, (b"retry-after-ms", str(wait_ms).encode())],
    )
