"""`provocapi probe` and `provocapi compare`: their flags.

probe exits 0 when it could run, whatever the verdicts; 2 on a usage error; 3 when the
endpoint could not be reached. compare exits 0 when every case ran on both sides, 1 when
some failed (the report says which), 2 on a usage error."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="one request per feature edge; a verdict for each (works / refused clearly / "
        "silently ignored / broken)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("base_url", help="an OpenAI-style base URL ending in /v1")
    p.add_argument("--api-key", help="API key (default $OPENAI_API_KEY)")
    p.add_argument("--model", help="chat model (default: the first listed)")
    p.add_argument("--embedding-model", help="embedding model (default: the first listed)")
    p.add_argument(
        "--provoke-429",
        action="store_true",
        help="send cheap requests (at most 300) until a 429, then check its headers",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the verdicts as JSON")

    c = sub.add_parser(
        "compare",
        help="run a golden set against two endpoints; outputs, tokens, latency side by side",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--a", required=True, metavar="URL", help="side A's base URL (/v1)")
    c.add_argument("--b", required=True, metavar="URL", help="side B's base URL (/v1)")
    c.add_argument("--golden", type=Path, help="the golden JSONL (default: the shipped set)")
    c.add_argument("--a-model", help="model for side A (overrides each case's)")
    c.add_argument("--b-model", help="model for side B")
    c.add_argument("--a-key", help="API key for side A (default $OPENAI_API_KEY)")
    c.add_argument("--b-key", help="API key for side B (default $OPENAI_API_KEY)")
    c.add_argument("--embedding-model", help="score output similarity by embedding cosine")
    c.add_argument("--repeat", type=int, default=1, help="runs of each case per side")
    c.add_argument("--concurrency", type=int, default=4, help="requests in flight per side")
    c.add_argument("--out", type=Path, help="write report.md, report.json and SVG charts here")
    c.add_argument("--timeout", type=float, default=120.0, help="seconds per request")


def run_probe(args: argparse.Namespace) -> int:
    from .probe import main

    key = args.api_key or os.environ.get("OPENAI_API_KEY", "")
    return main(args.base_url, key, args.model, args.embedding_model, args.provoke_429, args.json)


def run_compare(args: argparse.Namespace) -> int:
    from .compare import main

    return main(args)
