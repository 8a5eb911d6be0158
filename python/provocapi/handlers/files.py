"""The Files API: POST/GET /v1/files, GET/DELETE /v1/files/{id}, GET .../content."""

from __future__ import annotations

import time

from ..asgi import Request
from ..batch import objects
from ..batch.records import FileRecord
from ..batch.service import OffLoopStores, handler_stores
from ..batch.upload import UploadLimits, limited, query
from ..error_catalog import (
    FILE_IN_USE,
    FILE_NOT_FOUND,
    FILE_TOO_LARGE,
    MISSING_PARAMETER,
    UNKNOWN_URL,
    invalid,
)
from ..errors import quote
from ..gateway import Gateway
from ..listing import cursor_page
from ..multipart import MalformedMultipart, MultipartReader, bad, form_boundary, request_chunks
from ..schemas import EXPIRY_MAX_S, EXPIRY_MIN_S, FILE_PURPOSES
from ..whole_numbers import as_int
from .paging import known_cursor, page_size

PURPOSES = FILE_PURPOSES
FIELD_BYTES = 4096
FORM_SLACK = 1 << 20  # the fields and part headers around the file, at most


async def live_file(st: OffLoopStores, tenant: str, file_id: str, param: str = "id") -> FileRecord:
    """The tenant's file, unexpired; else 404 naming `param`, the field the id came in."""
    rec = await st.run(st.files.get, tenant, file_id)
    if rec is None or (rec.expires_at is not None and rec.expires_at <= time.time()):
        raise FILE_NOT_FOUND.build(id=quote(file_id), param=param)
    return rec


async def upload_limits(gw: Gateway, st: OffLoopStores, tenant: str) -> UploadLimits:
    cfg = gw.cfg.batch
    used = await st.run(st.files.used_bytes, tenant)
    limits = UploadLimits(cfg.max_file_bytes, cfg.tenant_quota_bytes, used)
    refused = limits.fail()
    if refused is not None:
        raise refused
    return limits


async def read_form(
    gw: Gateway, req: Request, st: OffLoopStores, tenant: str, default_purpose: str | None
) -> tuple[dict[str, str], FileRecord | None]:
    """A multipart body's fields, its `file` part stored as it streams in."""
    boundary = form_boundary(req)
    if boundary is None:
        raise bad("send multipart/form-data with a `file` part")
    limits = await upload_limits(gw, st, tenant)
    most = limits.max_file_bytes
    body = request_chunks(req, most + FORM_SLACK, lambda: FILE_TOO_LARGE.build(limit=most))
    reader = MultipartReader(body, boundary)
    fields: dict[str, str] = {}
    stored: FileRecord | None = None
    try:
        while (part := await reader.next_part()) is not None:
            if part.name == "file" and stored is None:
                purpose = fields.get("purpose") or default_purpose or "user_data"
                name = part.filename or "upload.jsonl"
                stored = await st.put(
                    tenant, purpose, name, limited(reader.data(), limits), limits.quota
                )
            else:
                value = await reader.small(FIELD_BYTES, part.name)
                fields[part.name] = value.decode("utf-8", "replace")
    except BaseException as exc:  # malformed, too large or gone: keep no half of it
        if stored is not None:
            await st.run(st.files.delete, tenant, stored.id)
        if isinstance(exc, MalformedMultipart):
            raise bad(str(exc)) from None
        raise
    return fields, stored


def one_of(value: str | None, allowed: tuple[str, ...], param: str) -> str:
    """A form or query value among `allowed`: else 400, missing or naming them."""
    if value is None:
        raise MISSING_PARAMETER.build(name=param, param=param)
    if value not in allowed:
        raise invalid(f"'{param}' must be one of {', '.join(allowed)}; got {quote(value)}.",
                      param=param)  # fmt: skip
    return value


def expiry_policy(anchor: object, seconds: object, param: str) -> int:
    """Seconds after its creation a file expires, from an `{anchor, seconds}` policy
    (JSON, or a form's `param[anchor]` and `param[seconds]` strings)."""
    if anchor != "created_at":
        raise invalid(f"'{param}.anchor' must be 'created_at'; got {quote(anchor)}.",
                      param=f"{param}.anchor")  # fmt: skip
    if isinstance(seconds, str) and seconds.isascii() and seconds.isdigit():
        seconds = int(seconds)  # a form field
    seconds = as_int(seconds)  # 3600.0 is 3600, as elsewhere
    if type(seconds) is not int or not EXPIRY_MIN_S <= seconds <= EXPIRY_MAX_S:
        raise invalid(
            f"'{param}.seconds' must be an integer from {EXPIRY_MIN_S} (1 hour) to "
            f"{EXPIRY_MAX_S} (30 days); got {quote(seconds)}.",
            param=f"{param}.seconds",
        )
    return seconds


def upload_expiry(gw: Gateway, purpose: str, fields: dict[str, str]) -> int | None:
    """As OpenAI: what `expires_after` asks; else a `batch` upload lives
    `[batch] file_expiry_s` and any other is kept until deleted."""
    anchor, seconds = fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
    if anchor is not None or seconds is not None:
        return expiry_policy(anchor, seconds, "expires_after")
    return gw.cfg.batch.file_expiry_s if purpose == "batch" else None


async def create_file(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    st = await handler_stores(gw)
    fields, stored = await read_form(gw, req, st, key.tenant, None)
    if stored is None:
        raise invalid("Missing required parameter: 'file'.", param="file",
                      code="missing_required_parameter")  # fmt: skip
    try:
        purpose = one_of(fields.get("purpose"), PURPOSES, "purpose")
        expires = upload_expiry(gw, purpose, fields)
    except Exception:
        await st.run(st.files.delete, key.tenant, stored.id)
        raise
    # the form is read whole only now (its fields may follow the file)
    await st.run(st.files.set_terms, key.tenant, stored.id, purpose, expires)
    stored = await live_file(st, key.tenant, stored.id)
    await req.respond_json(200, objects.file_object(stored))
    return "-"


async def list_files(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    params = query(req)
    limit = page_size(params, 10_000)
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("'order' must be asc or desc.", param="order")
    now = time.time()
    st = await handler_stores(gw)
    with known_cursor(FILE_NOT_FOUND):
        found = await st.run(st.files.page, key.tenant, params.get("purpose"),
                             params.get("after"), limit + 1, order, now)  # fmt: skip
    await req.respond_json(200, cursor_page(found, limit, objects.file_object))
    return "-"


async def file_get(gw: Gateway, req: Request) -> str:
    """GET /v1/files/{id} and GET /v1/files/{id}/content."""
    key = gw.authenticate(req)
    rest = req.path.removeprefix("/v1/files/")
    file_id, _, tail = rest.partition("/")
    st = await handler_stores(gw)
    if tail == "content":
        await stream_file(req, st, await live_file(st, key.tenant, file_id))
    elif not tail:
        await req.respond_json(200, objects.file_object(await live_file(st, key.tenant, file_id)))
    else:
        raise UNKNOWN_URL.build(method="GET", path=quote(req.path))
    return "-"


async def stream_file(req: Request, st: OffLoopStores, rec: FileRecord | None) -> None:
    """The file's bytes as they are read (None: an empty body)."""
    reply = req.reply
    await reply.start_download(
        [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(rec.bytes if rec else 0).encode()),
        ]
    )
    if rec is not None:
        async for chunk in st.chunks(rec.id):
            await reply.write(chunk)
    await reply.end_stream()


async def file_delete(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    file_id = req.path.removeprefix("/v1/files/")
    if "/" in file_id:
        raise UNKNOWN_URL.build(method="DELETE", path=quote(req.path))
    st = await handler_stores(gw)
    rec = await live_file(st, key.tenant, file_id)
    if await st.run(st.batches.active_using, rec.id):
        raise FILE_IN_USE.build(id=rec.id)
    await st.run(st.files.delete, key.tenant, rec.id)
    await req.respond_json(200, {"id": rec.id, "object": "file", "deleted": True})
    return "-"
