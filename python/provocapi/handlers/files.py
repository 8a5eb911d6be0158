"""The Files API: POST/GET /v1/files, GET/DELETE /v1/files/{id}, GET .../content."""

from __future__ import annotations

import time

from ..asgi import Request
from ..batch import objects
from ..batch.multipart import MalformedMultipart, MultipartReader, boundary_of
from ..batch.records import FileRecord
from ..batch.service import Stores, stores
from ..batch.upload import UploadLimits, body_chunks, header, limited, query
from ..error_catalog import FILE_IN_USE, FILE_NOT_FOUND, INVALID_BODY, UNKNOWN_URL, invalid
from ..errors import quote
from ..gateway import Gateway

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
FIELD_BYTES = 4096


def live_file(st: Stores, tenant: str, file_id: str) -> FileRecord:
    rec = st.files.get(tenant, file_id)
    if rec is None or (rec.expires_at is not None and rec.expires_at <= time.time()):
        raise FILE_NOT_FOUND.build(id=quote(file_id))
    return rec


def upload_limits(gw: Gateway, st: Stores, tenant: str) -> UploadLimits:
    cfg = gw.cfg.batch
    limits = UploadLimits(cfg.max_file_bytes, cfg.tenant_quota_bytes, st.files.used_bytes(tenant))
    refused = limits.fail()
    if refused is not None:
        raise refused
    return limits


async def read_form(
    gw: Gateway, req: Request, st: Stores, tenant: str, default_purpose: str | None
) -> tuple[dict[str, str], FileRecord | None]:
    """A multipart body's fields, its `file` part stored as it streams in."""
    boundary = boundary_of(header(req, b"content-type"))
    if boundary is None:
        raise INVALID_BODY.build(detail="send multipart/form-data with a `file` part")
    limits = upload_limits(gw, st, tenant)
    reader = MultipartReader(body_chunks(req), boundary)
    fields: dict[str, str] = {}
    stored: FileRecord | None = None
    try:
        while (part := await reader.next_part()) is not None:
            if part.name == "file" and stored is None:
                purpose = fields.get("purpose") or default_purpose or "user_data"
                stored = await st.files.put(
                    tenant, purpose, part.filename or "upload.jsonl", limited(reader.data(), limits)
                )
            else:
                fields[part.name] = (await reader.small(FIELD_BYTES)).decode("utf-8", "replace")
    except MalformedMultipart as exc:
        if stored is not None:
            st.files.delete(tenant, stored.id)
        raise INVALID_BODY.build(detail=str(exc)) from None
    return fields, stored


async def create_file(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    st = stores(gw)
    fields, stored = await read_form(gw, req, st, key.tenant, None)
    if stored is None:
        raise invalid("Missing required parameter: 'file'.", param="file",
                      code="missing_required_parameter")  # fmt: skip
    purpose = fields.get("purpose")
    if purpose not in PURPOSES:
        st.files.delete(key.tenant, stored.id)
        raise invalid(
            f"'purpose' must be one of {', '.join(PURPOSES)}; got {quote(purpose)}.",
            param="purpose",
        )
    if stored.purpose != purpose:  # the purpose came after the file
        st.files.set_purpose(key.tenant, stored.id, purpose)
        stored = live_file(st, key.tenant, stored.id)
    await req.respond_json(200, objects.file_object(stored))
    return "-"


def page_size(params: dict[str, str], most: int) -> int:
    raw = params.get("limit", str(most))
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        raise invalid(f"'limit' must be an integer from 1 to {most}.", param="limit")
    return limit


async def list_files(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    params = query(req)
    limit = page_size(params, 10_000)
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("'order' must be asc or desc.", param="order")
    now = time.time()
    found = stores(gw).files.page(key.tenant, params.get("purpose"), params.get("after"),
                                  limit + 1, order)  # fmt: skip
    found = [r for r in found if r.expires_at is None or r.expires_at > now]
    items = [objects.file_object(r) for r in found[:limit]]
    await req.respond_json(200, objects.page(items, len(found) > limit))
    return "-"


async def file_get(gw: Gateway, req: Request) -> str:
    """GET /v1/files/{id} and GET /v1/files/{id}/content."""
    key = gw.authenticate(req)
    rest = req.path.removeprefix("/v1/files/")
    file_id, _, tail = rest.partition("/")
    st = stores(gw)
    if tail == "content":
        await stream_file(req, st, live_file(st, key.tenant, file_id))
    elif not tail:
        await req.respond_json(200, objects.file_object(live_file(st, key.tenant, file_id)))
    else:
        raise UNKNOWN_URL.build(method="GET", path=quote(req.path))
    return "-"


async def stream_file(req: Request, st: Stores, rec: FileRecord | None) -> None:
    """The file's bytes as they are read (None: an empty body)."""
    reply = req.reply
    await reply.start_download(
        [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(rec.bytes if rec else 0).encode()),
        ]
    )
    if rec is not None:
        for chunk in st.files.chunks(rec.id):
            await reply.write(chunk)
    await reply.end_stream()


async def file_delete(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    file_id = req.path.removeprefix("/v1/files/")
    if "/" in file_id:
        raise UNKNOWN_URL.build(method="DELETE", path=quote(req.path))
    st = stores(gw)
    rec = live_file(st, key.tenant, file_id)
    if st.batches.active_using(rec.id):
        raise FILE_IN_USE.build(id=rec.id)
    st.files.delete(key.tenant, rec.id)
    await req.respond_json(200, {"id": rec.id, "object": "file", "deleted": True})
    return "-"
