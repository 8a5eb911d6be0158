"""What JSON Schema cannot say about a valid request, applied to generated cases.

Each rule is one the gateway enforces across fields or inside file bytes, where
the document can only describe the parts: /v1/usage's range (end not before start,
at most [usage].max_range_days), and an uploaded adapter's files (a PEFT config and
safetensors that fit the base model). And half the hub adapters name the test hub's
one good repo, which no document could know. An uploaded file is of purpose `batch`:
the document links it to POST /v1/batches, which reads no other purpose (a 400 the
link cannot say). A list's `after` must name one of the list's objects, which a
generated string never does (a 404, tested in e2e): it is left out, so the lists
still hand their ids on to the links. Only cases the document calls valid are
touched; a negative case goes out as generated.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import schemathesis
from adapters.files import ARCH, adapter, modules
from schemathesis.checks import CheckContext
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case

from .conftest import CHAT, FAULTY_NAMES, HUB_REPO

MAX_RANGE_DAYS = 366
LISTS = frozenset({"/v1/files", "/v1/batches", "/v1/batch", "/v1/adapters"})  # paged by `after`
ALIASES = {a: m for m, (_, aliases) in CHAT.items() for a in aliases}


@schemathesis.check
def server_errors_only_from_faults(ctx: CheckContext, response: Response, case: Case) -> None:
    """No 500 ever; 502-504 only for a call to the model whose worker fails on purpose."""
    status = response.status_code
    if status < 500:
        return
    body = case.body if isinstance(case.body, dict) else {}
    faulted = body.get("model") in FAULTY_NAMES
    if status == 500 or status > 504 or not faulted:
        raise AssertionError(f"{status} without an injected fault: {response.text[:300]}")


def needs_admin(case: Case) -> bool:
    """/admin/reload, and `tenant` on /v1/usage and /v1/adapters (whose usage or adapters:
    the admin key's question; any other key gets 403)."""
    if case.path == "/admin/reload":
        return True
    return bool(case.query and "tenant" in case.query and positive(case))


def positive(case: Case) -> bool:
    return bool(case.meta and case.meta.generation.mode == GenerationMode.POSITIVE)


def prepare(case: Case) -> None:
    if not positive(case):
        return
    if case.path == "/v1/usage" and case.query:
        _usage_range(case.query)
    elif case.path == "/v1/adapters/upload" and isinstance(case.body, dict):
        _adapter_files(case.body)
    elif case.path == "/v1/adapters" and case.method == "POST" and isinstance(case.body, dict):
        _hub_repo(case.body)
    elif case.path == "/v1/files" and case.method == "POST" and isinstance(case.body, dict):
        case.body["purpose"] = "batch"
    elif case.path in LISTS and case.method == "GET" and case.query:
        case.query.pop("after", None)


def _usage_range(query: dict[str, Any]) -> None:
    try:
        start = dt.date.fromisoformat(query["start_date"])
        end = dt.date.fromisoformat(query["end_date"])
    except (KeyError, TypeError, ValueError):
        return
    start, end = min(start, end), max(start, end)
    end = min(end, start + dt.timedelta(days=MAX_RANGE_DAYS - 1))
    query["start_date"], query["end_date"] = start.isoformat(), end.isoformat()


def _hub_repo(body: dict[str, Any]) -> None:
    """Every other hub adapter names the local hub's good repo, so some get fetched,
    checked and become ready (the rest fail in the background: no such repo)."""
    name = body.get("name")
    if isinstance(name, str) and len(name) % 2 == 0:
        body["repo"] = HUB_REPO
        body.pop("revision", None)


@cache
def _files(model: str) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        return adapter(Path(tmp), modules(model))


def _adapter_files(body: dict[str, Any]) -> None:
    base = body.get("base_model")
    model = ALIASES.get(base, base) if isinstance(base, str) else None
    if model in ARCH:
        body["adapter_config"], body["adapter_model"] = _files(model)
