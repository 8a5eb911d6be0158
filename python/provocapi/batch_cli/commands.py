"""`provocapi batch ...`: the subcommands, their flags and exit codes.

Exit codes: 0 done; 1 the gateway answered an error (its OpenAI message is printed);
2 a usage error (bad flag, no API key, unreadable file); 3 the gateway could not be
reached; 4 the batch ended other than completed (`--wait`), or has no such file yet
(`get --output/--errors`); 130 Ctrl-C stopped following (the batch keeps running)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .client import ApiFailure, BatchApi, Unreachable, settings
from .follow import follow
from .summary import HEADER, file_errors, row, summary

OK, API_ERROR, USAGE, UNREACHABLE, NOT_COMPLETED, INTERRUPTED = 0, 1, 2, 3, 4, 130
ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


def add_parser(sub: Any) -> None:
    """Adds `batch` and its subcommands to the `provocapi` parser."""
    b = sub.add_parser(
        "batch",
        help="submit, follow, fetch, list and cancel batches (OpenAI's batch API)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument(
        "--base-url", help="the API's base URL (default $OPENAI_BASE_URL, else local gateway)"
    )
    conn.add_argument("--api-key", help="API key (default $OPENAI_API_KEY)")
    bsub = b.add_subparsers(dest="batch_command", required=True)

    s = bsub.add_parser("submit", parents=[conn], help="upload a JSONL file and create a batch")
    s.add_argument("file", type=Path, help="the JSONL input, one request per line")
    s.add_argument("--endpoint", required=True, choices=ENDPOINTS)
    s.add_argument(
        "--metadata", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    _wait_flags(s, "--wait", "follow the batch to its end (Ctrl-C stops following only)")

    g = bsub.add_parser("get", parents=[conn], help="show a batch; download its files")
    g.add_argument("id")
    g.add_argument("--output", type=Path, help="write the output file (2xx lines) here")
    g.add_argument("--errors", type=Path, help="write the error file here")
    g.add_argument("--json", action="store_true", help="print the Batch object as JSON")
    _wait_flags(g, "--wait", "follow the batch to its end first")

    ls = bsub.add_parser("list", parents=[conn], help="list batches, newest first")
    ls.add_argument("--limit", type=int, default=20, help="at most this many (1-100)")
    ls.add_argument("--after", help="continue after this batch id")
    ls.add_argument("--json", action="store_true", help="print the list object as JSON")

    c = bsub.add_parser("cancel", parents=[conn], help="cancel a batch")
    c.add_argument("id")


def _wait_flags(p: argparse.ArgumentParser, flag: str, text: str) -> None:
    p.add_argument(flag, action="store_true", help=text)
    p.add_argument(
        "--poll", type=_poll_s, default=2.0, help="seconds between polls (default 2, above 0)"
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "plain"),
        default="auto",
        help="bar on a terminal, plain lines otherwise (auto), or force one",
    )


def _poll_s(text: str) -> float:
    """Above 0 and finite: 0 or less polled the gateway as fast as it answered."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:  # also NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a poll interval (seconds, above 0)")
    return value


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    s = settings(args.base_url, args.api_key)
    if not s.api_key:
        _err("no API key: set OPENAI_API_KEY or pass --api-key")
        return USAGE
    try:
        api = BatchApi(s)
        handler = {"submit": _submit, "get": _get, "list": _list, "cancel": _cancel}
        return handler[args.batch_command](api, args)
    except ApiFailure as e:
        _err(str(e))
        return API_ERROR
    except Unreachable as e:
        _err(f"cannot reach the gateway at {s.base_url}: {e}")
        return UNREACHABLE
    except (ValueError, OSError) as e:
        _err(str(e))
        return USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return INTERRUPTED


def _tty(args: argparse.Namespace) -> bool:
    if args.progress == "auto":
        return sys.stderr.isatty()
    return bool(args.progress == "bar")


def _wait(api: BatchApi, batch_id: str, args: argparse.Namespace) -> int:
    try:
        batch = follow(api, batch_id, max(0.05, args.poll), _tty(args))
    except KeyboardInterrupt:
        print(
            f"stopped following {batch_id}; it keeps running "
            f"(provocapi batch get {batch_id}, or batch cancel to stop it)",
            file=sys.stderr,
        )
        return INTERRUPTED
    status = batch.get("status")
    for line in file_errors(batch):
        print(line, file=sys.stderr)
    print(f"{batch_id}: {status}", file=sys.stderr)
    if status == "completed":
        print(f"download: provocapi batch get {batch_id} --output out.jsonl --errors err.jsonl")
        return OK
    return NOT_COMPLETED


def _submit(api: BatchApi, args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        _err(f"{path}: no such file")
        return USAGE
    metadata = {}
    for item in args.metadata:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _err(f"--metadata takes KEY=VALUE, not {item!r}")
            return USAGE
        metadata[key] = value
    f = api.upload(path)
    print(f"uploaded {path} as {f.get('id')} ({f.get('bytes')} bytes)", file=sys.stderr)
    batch = api.create(str(f["id"]), args.endpoint, metadata or None)
    batch_id = str(batch["id"])
    print(batch_id)  # alone on stdout: ID=$(provocapi batch submit ...)
    sys.stdout.flush()
    if not args.wait:
        return OK
    return _wait(api, batch_id, args)


def _download(api: BatchApi, file_id: str | None, dest: Path, what: str) -> bool:
    if not file_id:
        _err(f"the batch has no {what} file (yet)")
        return False
    tmp = dest.with_name(dest.name + ".part")
    try:
        with tmp.open("wb") as out:
            size = api.download(file_id, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dest)  # never a half-written file under the name asked for
    print(f"wrote {what} file {file_id} to {dest} ({size} bytes)", file=sys.stderr)
    return True


def _get(api: BatchApi, args: argparse.Namespace) -> int:
    waited = OK
    if args.wait:
        waited = _wait(api, args.id, args)
        if waited == INTERRUPTED:
            return waited
    batch = api.get(args.id)
    if args.json:
        print(json.dumps(batch, indent=2))
    else:
        print("\n".join(summary(batch)))
    ok = True
    if args.output:
        ok = _download(api, batch.get("output_file_id"), args.output, "output") and ok
    if args.errors:
        ok = _download(api, batch.get("error_file_id"), args.errors, "error") and ok
    return waited if ok else NOT_COMPLETED


def _list(api: BatchApi, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        _err("--limit must be between 1 and 100")
        return USAGE
    page = api.list(args.limit, args.after)
    if args.json:
        print(json.dumps(page, indent=2))
        return OK
    print(HEADER)
    for batch in page.get("data") or []:
        print(row(batch))
    if page.get("has_more"):
        print(f"more: provocapi batch list --after {page.get('last_id')}", file=sys.stderr)
    return OK


def _cancel(api: BatchApi, args: argparse.Namespace) -> int:
    batch = api.cancel(args.id)
    print(f"{batch.get('id')}: {batch.get('status')}")
    return OK
