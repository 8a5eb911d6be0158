"""Progress lines: the tokens each open stream relayed so far, one spool line a second.

A stream cut by a crash of its process (kill -9, the OOM killer) is stored as
`interrupted` with the tokens of its last progress entry, so the crash loses at
most one tick (`TICK_S`) of a stream's completion tokens. One timer per process
writes one line for all its open streams: with 1,000 streams open that is one
`write()` of about 60 KB a second (bench/test_progress_bench.py).

The completion count here is cheap and per chunk, not the tokenizer's: the
worker's own running count when it sends usage on every chunk, else the chunks
relayed with choices less the role chunk trtllm-serve opens each chat choice with.
trtllm-serve sends one token a chunk; a worker that packs several tokens into a
chunk is undercounted, never overcounted. A stream that ends while its process
lives is counted as before (the worker's usage, else its text by the tokenizer).

Only streams that relayed something get an entry: a call cut before its first
token served nothing, and stays a bare begin (0 tokens), as an error would.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..call import Call

TICK_S = 1.0


def role_chunks(call: Call) -> int:
    if call.kind != "chat":
        return 0
    n = getattr(call.request, "n", None)
    return n if isinstance(n, int) and n > 1 else 1


def entry(event_id: str, call: Call) -> list[Any] | None:
    """[event_id, prompt, completion, worker, ttft_ms], or None before a first token."""
    relay = call.relay
    ttft = call.ttft_s
    if relay is None or ttft is None:
        return None
    prompt = relay.prompt_tokens
    if prompt is None:
        prompt = call.prompt_tokens or 0  # admission's count
    completion = relay.completion_tokens
    if completion is None:
        completion = max(0, relay.chunks - role_chunks(call))
    return [event_id, prompt, completion, call.worker or "", round(ttft * 1000, 3)]


def line(open_calls: dict[str, Call], at_ms: int) -> bytes | None:
    """One spool line for every open call that relayed something; None if none did."""
    entries = []
    for event_id, call in open_calls.items():
        e = entry(event_id, call)
        if e is not None:
            entries.append(e)
    if not entries:
        return None
    return orjson.dumps({"progress": entries, "at_ms": at_ms}) + b"\n"


def parse_entry(e: Any) -> tuple[str, int, int, str, float | None] | None:
    """A progress entry as read back; None for anything malformed (skipped)."""
    if type(e) is not list or len(e) != 5:
        return None
    event_id, prompt, completion, worker, ttft = e
    if not (type(event_id) is str and type(prompt) is int and type(completion) is int):
        return None
    if type(worker) is not str or not (ttft is None or type(ttft) in (int, float)):
        return None
    return event_id, prompt, completion, worker, ttft
