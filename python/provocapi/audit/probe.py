"""`provocapi probe`: one request per feature edge against an OpenAI-style base URL, a
verdict for each, as a table on stdout and as JSON with --json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from .context import Ctx
from .registry import PROBES, Probe
from .verdicts import BROKEN, NOT_MEASURED, SKIPPED, VERDICTS, Outcome, envelope, short
from .wire import Endpoint

OK, USAGE, UNREACHABLE = 0, 2, 3


def discover(ep: Endpoint) -> tuple[list[dict[str, Any]], str, int]:
    """GET /models: its entries, or why there are none, and the status (0: no answer)."""
    reply = ep.request("GET", "/models")
    if reply.status == 0:
        return [], reply.failure, 0
    body = reply.json()
    data = body.get("data") if isinstance(body, dict) else None
    if reply.status != 200 or not isinstance(data, list):
        err = envelope(body)
        said = f": {short(err['message'], 120)}" if err else ""
        return [], f"GET /models answered {reply.status}{said}", reply.status
    cards = [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
    return cards, "", reply.status


def pick_models(
    cards: list[dict[str, Any]], model: str | None, embedding: str | None
) -> tuple[str | None, str | None]:
    """The chat model (given, else the first not named like an embedding model) and the
    embedding model (given, else the first named like one)."""
    ids = [str(c["id"]) for c in cards]
    if model is None:
        model = next((i for i in ids if "embed" not in i.lower()), None)
    if embedding is None:
        embedding = next((i for i in ids if "embed" in i.lower()), None)
    return model, embedding


def run_all(ctx: Ctx, probes: tuple[Probe, ...] = PROBES) -> list[Outcome]:
    out = []
    for p in probes:
        try:
            out.append(p.run(ctx))
        except Exception as e:  # a probe's own bug must not hide the others' verdicts
            out.append(Outcome(p.name, BROKEN, f"the probe failed: {type(e).__name__}: {e}"))
    return out


def table(outcomes: list[Outcome], width: int = 110) -> str:
    name_w = max(len(o.probe) for o in outcomes)
    verdict_w = max(len(o.verdict) for o in outcomes)
    lines = [f"{'PROBE':<{name_w}}  {'VERDICT':<{verdict_w}}  EVIDENCE"]
    room = max(20, width - name_w - verdict_w - 4)
    for o in outcomes:
        ev = o.evidence if len(o.evidence) <= room else o.evidence[: room - 1] + "…"
        lines.append(f"{o.probe:<{name_w}}  {o.verdict:<{verdict_w}}  {ev}")
    counts = {v: sum(o.verdict == v for o in outcomes) for v in (*VERDICTS, NOT_MEASURED, SKIPPED)}
    lines.append("")
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return "\n".join(lines)


def report(ctx: Ctx, outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "base_url": ctx.ep.base_url,
        "model": ctx.model,
        "embedding_model": ctx.embedding_model,
        "probes": [
            {**o.as_json(), "request": p.request} for o, p in zip(outcomes, PROBES, strict=False)
        ],
        "counts": {
            v: sum(o.verdict == v for o in outcomes) for v in (*VERDICTS, NOT_MEASURED, SKIPPED)
        },
    }


def _writable(path: Path) -> bool:
    """Whether `path` can be written: an existing writable file, or a new name in a
    writable directory."""
    if path.exists():
        return path.is_file() and os.access(path, os.W_OK)
    parent = path.parent
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)


def main(
    base_url: str,
    api_key: str,
    model: str | None,
    embedding_model: str | None,
    provoke_429: bool,
    json_path: Path | None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    try:
        ep = Endpoint(base_url, api_key)
    except ValueError as e:
        print(f"error: {e}", file=err)
        return USAGE
    if json_path is not None and not _writable(json_path):
        # known before the probes run, not after every request has been sent
        print(f"error: cannot write --json {json_path}", file=err)
        return USAGE
    cards, why, status = discover(ep)
    if status in (401, 403):
        # the key is refused: every probe would measure that, not a feature
        print(f"error: the API key was refused ({why}); check --api-key", file=err)
        return USAGE
    if why and not model:
        print(f"error: cannot list models ({why}); give --model", file=err)
        # something answered, just not with a model list: a wrong URL, not a dead one
        return UNREACHABLE if status == 0 else USAGE
    model, embedding_model = pick_models(cards, model, embedding_model)
    if model is None:
        print("error: no chat model listed; give --model", file=err)
        return USAGE
    ctx = Ctx(ep, model, embedding_model, provoke_429)
    card = next((c for c in cards if c.get("id") == model), {})
    if isinstance(card.get("max_output_tokens"), int):
        ctx.notes["max_output_tokens"] = card["max_output_tokens"]
    print(f"probing {ep.base_url} with model {model}"
          + (f" and {embedding_model}" if embedding_model else ""), file=err)  # fmt: skip
    outcomes = run_all(ctx)
    print(table(outcomes), file=out)
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report(ctx, outcomes), indent=2) + "\n")
        except OSError as e:
            print(f"error: cannot write --json {json_path}: {e}", file=err)
            return USAGE
    ran = [o for o in outcomes if o.verdict != SKIPPED]
    if ran and all(o.evidence.startswith("no HTTP answer") for o in ran):
        print(f"error: {ep.base_url} did not answer", file=err)
        return UNREACHABLE
    return OK
