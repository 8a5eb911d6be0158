"""The simulator's options: one parser for the command line and for fleet entries."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from .. import lora_files

FAMILIES = ("llama3", "qwen2", "mistral")


@dataclass(frozen=True, slots=True)
class SimConfig:
    model: str
    port: int
    host: str = "127.0.0.1"
    family: str = "llama3"
    # What prompts are counted with (prompt_count.py): None → the family's built-in;
    # "none" → the estimate; else a built-in name or a file path.
    tokenizer: str | None = None
    embedding: bool = False
    dimensions: int = 1024
    ttft_ms: float = 0.0
    token_delay_ms: float = 0.0
    output_tokens: int = 32
    seed: int = 0
    tool_parser: str | None = None
    error_rate: float = 0.0
    drop_rate: float = 0.0
    starting_s: float = 0.0
    refuse_s: float = 0.0
    max_queue: int = 0
    max_batch: int = 0
    # trtllm's `priority` request field: accepted and, with max_batch, scheduled by
    # (waiting_queue_policy=priority); off: refused as unknown, like an older worker.
    priority: bool = False
    openai: bool = False
    api_key: str | None = None
    max_loras: int = 0  # LoRA cache slots (0: not modelled)
    # The served model's shapes (lora_files.ARCHITECTURE_FIELDS): a lora_path whose tensors
    # do not fit them is refused, as the worker's LoRA load fails. None: not checked.
    architecture: dict[str, int] | None = None
    lora_load_ms: float = 0.0  # the wait of a request whose adapter is not resident
    # misbehaviour on purpose (field_knobs.py): what probe and compare are tested against
    ignore_fields: tuple[str, ...] = ()
    refuse_fields: tuple[str, ...] = ()
    broken_fields: tuple[str, ...] = ()
    accept_images: bool = False  # --openai: image/audio parts answered 200, unseen
    invalid_json: bool = False  # JSON answers break their schema (no guided decoding)
    # Answers of repeated bodies remembered per endpoint (memo.py): a benchmark that cycles
    # through more distinct prompts than this pays the full path for each.
    memo_entries: int = 128


def guess_family(model: str) -> str:
    """The tool-call text format a model name suggests (llama3 unless it says otherwise)."""
    name = model.lower()
    if "qwen" in name:
        return "qwen2"
    if "mistral" in name or "mixtral" in name or "ministral" in name:
        return "mistral"
    return "llama3"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="provocapi worker-sim",
        description="Simulated TensorRT-LLM trtllm-serve worker (or a plain OpenAI provider).",
    )
    p.add_argument("--port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--model")
    p.add_argument(
        "--family",
        choices=FAMILIES,
        help="tool-call text format; default guessed from the model name",
    )
    p.add_argument(
        "--tokenizer",
        help="what usage.prompt_tokens is counted with: a built-in (llama3, qwen2.5, tekken), "
        "a file, or none (estimate); default the family's built-in",
    )
    p.add_argument("--embedding", action="store_true", help="embedding-server mode")
    p.add_argument("--dimensions", type=int, default=1024)
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--token-delay-ms", type=float, default=0.0)
    p.add_argument("--output-tokens", type=int, default=32, help="natural answer length")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tool-parser", choices=("qwen3",))
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500")
    p.add_argument(
        "--drop-rate", type=float, default=0.0, help="fraction of streams dropped mid-way"
    )
    p.add_argument(
        "--starting-s", type=float, default=0.0, help="answer 503 for the first F seconds"
    )
    p.add_argument(
        "--refuse-s", type=float, default=0.0, help="do not listen for the first F seconds"
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=0,
        help="beyond N requests in flight answer 429 (0: no limit)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=0,
        help="at most N requests run at once; the rest wait in FIFO order and show as "
        "numQueuedRequests on /metrics (0: no limit)",
    )
    p.add_argument(
        "--priority",
        action="store_true",
        help="accept the request field `priority` (0..1) and, with --max-batch, run higher "
        "priorities first; without it the field is refused as unknown (an older worker)",
    )
    p.add_argument(
        "--max-loras", type=int, default=0, help="LoRA cache slots, LRU (0: not modelled)"
    )
    p.add_argument("--lora-load-ms", type=float, default=50.0, help="wait on a LoRA cache miss")
    p.add_argument(
        "--invalid-json",
        action="store_true",
        help="answers to response_format json_schema break the schema (json_object: no JSON), "
        "as a worker without a guided-decoding backend may write",
    )
    p.add_argument(
        "--architecture",
        help="JSON {layers, hidden_size, intermediate_size, heads, kv_heads, head_dim}: "
        "adapters whose tensors do not fit it are refused",
    )
    p.add_argument("--openai", action="store_true", help="plain OpenAI-compatible profile")
    p.add_argument("--api-key", help="bearer key checked in --openai mode")
    p.add_argument(
        "--ignore-fields",
        default="",
        metavar="A,B",
        help="drop these request fields unseen (a dropped seed answers differently each time)",
    )
    p.add_argument(
        "--refuse-fields", default="", metavar="A,B", help="answer 400 naming any of these fields"
    )
    p.add_argument(
        "--broken-fields",
        default="",
        metavar="A,B",
        help="a malformed answer to a request with these fields (tools: arguments not JSON)",
    )
    p.add_argument(
        "--accept-images",
        action="store_true",
        help="--openai: answer image/audio parts 200 and drop them (default: 400 naming them)",
    )
    p.add_argument(
        "--memo-entries",
        type=int,
        default=128,
        help="answers of repeated bodies remembered per endpoint, least recently used out "
        "(0: none); each costs a few KB",
    )
    p.add_argument("--fleet", help="JSON list of option objects: several models, one process")
    return p


def from_namespace(ns: argparse.Namespace) -> SimConfig:
    if not ns.model:
        raise ValueError("--model is required")
    if ns.port is None:
        raise ValueError("--port is required")
    if not 0 <= ns.port <= 65535:  # the socket layer wraps 99999 round to 34463 otherwise
        raise ValueError(f"--port {ns.port} is not a port (0..65535, 0: any free one)")
    if ns.output_tokens < 1 or ns.dimensions < 1:
        raise ValueError("--output-tokens and --dimensions must be positive")
    if ns.max_batch < 0:
        raise ValueError("--max-batch must be 0 (no limit) or positive")
    if ns.memo_entries < 0:
        raise ValueError("--memo-entries must be 0 (none) or positive")
    return SimConfig(
        architecture=_architecture(ns.architecture),
        model=ns.model,
        port=ns.port,
        host=ns.host,
        family=ns.family or guess_family(ns.model),
        tokenizer=ns.tokenizer,
        embedding=ns.embedding,
        dimensions=ns.dimensions,
        ttft_ms=ns.ttft_ms,
        token_delay_ms=ns.token_delay_ms,
        output_tokens=ns.output_tokens,
        seed=ns.seed,
        tool_parser=ns.tool_parser,
        error_rate=ns.error_rate,
        drop_rate=ns.drop_rate,
        starting_s=ns.starting_s,
        refuse_s=ns.refuse_s,
        max_queue=ns.max_queue,
        max_batch=ns.max_batch,
        priority=ns.priority,
        openai=ns.openai,
        api_key=ns.api_key,
        max_loras=ns.max_loras,
        lora_load_ms=ns.lora_load_ms,
        ignore_fields=_names(ns.ignore_fields),
        refuse_fields=_names(ns.refuse_fields),
        broken_fields=_names(ns.broken_fields),
        accept_images=ns.accept_images,
        invalid_json=ns.invalid_json,
        memo_entries=ns.memo_entries,
    )


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _architecture(raw: str | None) -> dict[str, int] | None:
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        raise ValueError("--architecture takes a JSON object") from None
    fields = lora_files.ARCHITECTURE_FIELDS
    if not isinstance(found, dict) or set(found) != set(fields):
        raise ValueError(f"--architecture needs exactly the keys {', '.join(fields)}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in found.values()):
        raise ValueError("--architecture values must be positive integers")
    return found


def entry_argv(entry: dict[str, Any]) -> list[str]:
    """A fleet entry ({"model": "m", "port": 9002, "embedding": true}) as command-line words."""
    argv: list[str] = []
    for key, value in entry.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        else:
            argv += [flag, str(value)]
    return argv
