"""/v1/adapters: a tenant's own LoRA adapters (upload, list, get, delete).

An upload is streamed to a staging directory, checked against its base model
(adapterstore/checks.py), then published under its id and marked ready; only
then can `model="base:name"` reach a worker. The admin key lists and reads
every tenant's adapters.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from pathlib import Path

import orjson

from ..adapterstore import checks, hub
from ..adapterstore.store import NameTaken, StoredAdapter
from ..asgi import Request
from ..config import ModelConfig
from ..durable import fsync_tree
from ..error_catalog import (
    ADAPTER_EXISTS,
    ADAPTER_ID_NOT_FOUND,
    ADAPTER_QUOTA,
    INVALID_ADAPTER,
    INVALID_JSON,
    UNKNOWN_PARAMETER,
    invalid,
)
from ..errors import quote
from ..gateway import Gateway
from ..keys import KeyRecord
from ..listing import cursor_page
from ..lora_files import CONFIG_FILE, WEIGHTS_FILE, AdapterFileError
from ..multipart import Form, bad, form_boundary, read_form, request_chunks
from ..query_params import query_dict
from ..schemas import ADAPTER_NAME_PATTERN, HF_REPO_PATTERN, HF_REVISION_PATTERN
from .paging import known_cursor, page_size

log = logging.getLogger("provocapi")

PREFIX = "/v1/adapters/"
# the same patterns /openapi.json gives (schemas.py); fullmatch, since `$` allows a final \n
_NAME = re.compile(ADAPTER_NAME_PATTERN)
_REPO = re.compile(HF_REPO_PATTERN)
_REVISION = re.compile(HF_REVISION_PATTERN)
HUB_FIELDS = {"name", "base_model", "repo", "revision", "hf_token"}
_fetches: set[asyncio.Task[None]] = set()  # the hub fetches running in this process
FILE_FIELDS = {"adapter_config": CONFIG_FILE, "adapter_model": WEIGHTS_FILE}
MAX_LIST = 100
MAX_FIELD_BYTES = 64 * 1024  # a text field (name, base_model)


def _caller(gw: Gateway, req: Request) -> str | None:
    """The caller's tenant; None for the admin key (every tenant)."""
    if gw.is_admin(req):
        return None
    return gw.authenticate(req).tenant


def _visible(gw: Gateway, req: Request, adapter_id: str) -> StoredAdapter:
    tenant = _caller(gw, req)
    got = gw.adapter_store.get(adapter_id)
    if got is None or (tenant is not None and got.tenant != tenant):  # others': as if absent
        raise ADAPTER_ID_NOT_FOUND.build(adapter_id=quote(adapter_id))
    return got


def _base_model(gw: Gateway, key: KeyRecord, name: str) -> ModelConfig:
    model = gw.catalog.by_name.get(name)
    if model is None or model.id not in gw.catalog.allowed(key):
        raise invalid(f"Unknown base_model '{quote(name)}'.", param="base_model")
    why = checks.base_model_error(model)
    if why is not None:
        raise invalid(why, param="base_model")
    return model


def _name(form: Form) -> str:
    return _check_name(form.fields.get("name", ""))


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise invalid(
            "name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            param="name",
        )
    return name


def _check_quota(gw: Gateway, tenant: str, adding_bytes: int) -> None:
    """[adapters] max_per_tenant and max_bytes_per_tenant (pending and ready count)."""
    count, size = gw.adapter_store.tenant_usage(tenant)
    cfg = gw.cfg.adapters
    if count + 1 > cfg.max_per_tenant:
        raise ADAPTER_QUOTA.build(limit=f"{cfg.max_per_tenant} adapters")
    if size + adding_bytes > cfg.max_bytes_per_tenant:
        raise ADAPTER_QUOTA.build(limit=f"{cfg.max_bytes_per_tenant} bytes")


async def upload(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    _check_quota(gw, key.tenant, 0)  # before reading a byte of the body
    boundary = form_boundary(req)
    if boundary is None:
        raise bad("an upload is multipart/form-data with a boundary")
    token = secrets.token_hex(12)
    staging = gw.adapter_files.staging(token)
    try:
        targets = {field: staging / fname for field, fname in FILE_FIELDS.items()}
        body = request_chunks(req, gw.cfg.adapters.max_upload_bytes)
        form = await read_form(body, boundary, targets, MAX_FIELD_BYTES)
        for field in ("name", "base_model"):
            if field not in form.fields:
                raise invalid(f"Missing required field '{field}'.", param=field,
                              code="missing_required_parameter")  # fmt: skip
        for field in FILE_FIELDS:
            if field not in form.files:
                raise invalid(f"Missing required file '{field}'.", param=field,
                              code="missing_required_parameter")  # fmt: skip
        name = _name(form)
        model = _base_model(gw, key, form.fields["base_model"])
        if gw.catalog.adapters.get(model.id, name, key.tenant) is not None:
            raise ADAPTER_EXISTS.build(name=name, where=f" on {model.id}")
        try:
            checked = checks.check(staging, model)
        except AdapterFileError as exc:
            raise INVALID_ADAPTER.build(message=str(exc), param="adapter_model") from None
        _check_quota(gw, key.tenant, form.bytes)
        await asyncio.to_thread(gw.adapter_files.sync_staging, token)
        try:
            rec = gw.adapter_store.create(key.tenant, name, model.id, {"type": "upload"})
        except NameTaken:
            raise ADAPTER_EXISTS.build(name=name, where="") from None
        gw.adapter_files.publish(token, rec.id)
        gw.adapter_store.mark_ready(rec.id, checked.rank, checked.target_modules, form.bytes)
    finally:
        gw.adapter_files.discard_staging(token)
    gw.stored_adapters.reload()
    ready = gw.adapter_store.get(rec.id)
    assert ready is not None
    await req.respond_json(200, ready.public())
    return model.id


def _text(body: dict[str, object], field: str, pattern: re.Pattern[str] | None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
        raise invalid(f"Invalid '{field}'.", param=field)
    return value


async def create_from_hub(gw: Gateway, req: Request) -> str:
    """POST /v1/adapters: answered `pending` at once; fetched and checked in the
    background, then `ready`, or `failed` with the reason."""
    key = gw.authenticate(req)
    try:
        body = orjson.loads(await req.json_body(gw.max_body))
    except orjson.JSONDecodeError:
        raise INVALID_JSON.build() from None
    if not isinstance(body, dict):
        raise INVALID_JSON.build()
    for field in body:
        if field not in HUB_FIELDS:
            raise UNKNOWN_PARAMETER.build(name=quote(field), param=field)
    for field in ("name", "base_model", "repo"):
        if field not in body:
            raise invalid(f"Missing required parameter: '{field}'.", param=field,
                          code="missing_required_parameter")  # fmt: skip
    name = _check_name(body["name"])
    base = _text(body, "base_model", None) or ""
    model = _base_model(gw, key, base)
    repo = _text(body, "repo", _REPO) or ""
    revision = _text(body, "revision", _REVISION)
    token = _text(body, "hf_token", None)  # used for this fetch only, never stored
    if gw.catalog.adapters.get(model.id, name, key.tenant) is not None:
        raise ADAPTER_EXISTS.build(name=name, where=f" on {model.id}")
    _check_quota(gw, key.tenant, 0)  # its bytes are known once fetched: see _fetch
    source: dict[str, object] = {"type": "huggingface", "repo": repo, "revision": revision}
    try:
        rec = gw.adapter_store.create(key.tenant, name, model.id, source)
    except NameTaken:
        raise ADAPTER_EXISTS.build(name=name, where="") from None
    task = asyncio.get_running_loop().create_task(_fetch(gw, rec.id, model, repo, revision, token))
    _fetches.add(task)
    task.add_done_callback(_fetches.discard)
    await req.respond_json(200, rec.public())
    return model.id


async def _fetch(
    gw: Gateway,
    adapter_id: str,
    model: ModelConfig,
    repo: str,
    revision: str | None,
    token: str | None,
) -> None:
    token_key = secrets.token_hex(12)
    staging = gw.adapter_files.staging(token_key)
    cfg = gw.cfg.adapters
    try:
        size, checked = await asyncio.to_thread(
            _fetch_and_check, cfg.hf_endpoint, repo, revision, token, staging,
            cfg.max_upload_bytes, cfg.hf_timeout_s, model,
        )  # fmt: skip
    except (hub.HubFetchFailed, AdapterFileError) as exc:
        gw.adapter_store.mark_failed(adapter_id, str(exc))
        gw.adapter_files.discard_staging(token_key)
        return
    except Exception:
        log.exception("fetching adapter %s from %s failed", adapter_id, repo)
        gw.adapter_store.mark_failed(adapter_id, "internal error while fetching; retry")
        gw.adapter_files.discard_staging(token_key)
        return
    rec = gw.adapter_store.get(adapter_id)
    if rec is None:  # deleted while it was fetched
        gw.adapter_files.discard_staging(token_key)
        return
    _, used = gw.adapter_store.tenant_usage(rec.tenant)
    if used + size > cfg.max_bytes_per_tenant:
        gw.adapter_store.mark_failed(
            adapter_id, f"your adapters would exceed the quota of {cfg.max_bytes_per_tenant} bytes"
        )
        gw.adapter_files.discard_staging(token_key)
        return
    gw.adapter_files.publish(token_key, adapter_id)
    gw.adapter_store.mark_ready(adapter_id, checked.rank, checked.target_modules, size)
    gw.stored_adapters.reload()


def _fetch_and_check(
    endpoint: str,
    repo: str,
    revision: str | None,
    token: str | None,
    into: Path,
    max_bytes: int,
    timeout_s: float,
    model: ModelConfig,
) -> tuple[int, checks.CheckedAdapter]:
    size = hub.fetch(endpoint, repo, revision, token, into, max_bytes, timeout_s)
    checked = checks.check(into, model)
    fsync_tree(into)  # on disk before the adapter is marked ready (here, off the loop)
    return size, checked


async def list_adapters(gw: Gateway, req: Request) -> str:
    tenant = _caller(gw, req)
    q = query_dict(req.scope.get("query_string", b""), keep_blank=False)
    limit = page_size(q, MAX_LIST, default=20)
    if tenant is None and "tenant" in q:
        tenant = q["tenant"]
    with known_cursor(ADAPTER_ID_NOT_FOUND, "adapter_id"):
        rows = gw.adapter_store.list(tenant, q.get("after"), limit + 1)
    await req.respond_json(200, cursor_page(rows, limit, StoredAdapter.public))
    return "-"


async def retrieve_adapter(gw: Gateway, req: Request) -> str:
    got = _visible(gw, req, req.path[len(PREFIX) :])
    await req.respond_json(200, got.public())
    return got.base_model


async def delete_adapter(gw: Gateway, req: Request) -> str:
    got = _visible(gw, req, req.path[len(PREFIX) :])
    gw.adapter_store.delete(got.id)
    gw.stored_adapters.reload()  # this process at once; the others within a second
    await req.respond_json(200, {"id": got.id, "object": "adapter.deleted", "deleted": True})
    return got.base_model
