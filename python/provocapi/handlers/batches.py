"""The Batch API (/v1/batches...) and our one-call twin (/v1/batch...)."""

from __future__ import annotations

import time

import msgspec

from ..asgi import Request
from ..batch import objects
from ..batch.local import new_id
from ..batch.records import ENDPOINTS, FINAL, BatchRecord, FileRecord
from ..batch.service import OffLoopStores, handler_stores
from ..batch.upload import header, limited, query
from ..decoding import decode
from ..error_catalog import (
    BATCH_NOT_CANCELLABLE,
    BATCH_NOT_FINISHED,
    BATCH_NOT_FOUND,
    UNKNOWN_URL,
    invalid,
)
from ..errors import quote
from ..gateway import Gateway
from ..keys import KeyRecord
from ..listing import cursor_page
from ..multipart import request_chunks
from .files import expiry_policy, live_file, one_of, read_form, stream_file, upload_limits
from .paging import known_cursor, page_size

WINDOW = "24h"
# OpenAI's Metadata: at most 16 pairs, keys up to 64 characters, values up to 512
METADATA_PAIRS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 16, 64, 512


class CreateBatch(msgspec.Struct, forbid_unknown_fields=True):
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None = None
    output_expires_after: dict[str, object] | None = None


def _checked(endpoint: str | None, window: str) -> str:
    endpoint = one_of(endpoint, ENDPOINTS, "endpoint")
    if window != WINDOW:
        raise invalid(f"'completion_window' must be '{WINDOW}'.", param="completion_window")
    return endpoint


def _metadata_checked(metadata: dict[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    if len(metadata) > METADATA_PAIRS:
        raise invalid(
            f"'metadata' holds at most {METADATA_PAIRS} key-value pairs; got {len(metadata)}.",
            param="metadata",
        )
    for k, v in metadata.items():
        if len(k) > METADATA_KEY_CHARS:
            raise invalid(
                f"'metadata' keys are at most {METADATA_KEY_CHARS} characters; got {quote(k)}.",
                param="metadata",
            )
        if len(v) > METADATA_VALUE_CHARS:
            raise invalid(
                f"'metadata' values are at most {METADATA_VALUE_CHARS} characters "
                f"(key {quote(k)} has {len(v)}).",
                param="metadata",
            )
    return metadata


def _input_checked(file: FileRecord) -> FileRecord:
    # as OpenAI: a batch reads only a file uploaded for it (not a batch's own output)
    if file.purpose != "batch":
        raise invalid(
            f"The input file {file.id} has purpose '{file.purpose}'; a batch reads a file "
            "uploaded with purpose 'batch'.",
            param="input_file_id",
        )
    return file


async def _new_batch(
    gw: Gateway, st: OffLoopStores, key: KeyRecord, endpoint: str, file: FileRecord,
    metadata: dict[str, str] | None, output_expiry_s: int | None = None,
) -> BatchRecord:  # fmt: skip
    now = int(time.time())
    rec = BatchRecord(
        id=new_id("batch_"), tenant=key.tenant, key_id=key.id, endpoint=endpoint,
        input_file_id=file.id, window=WINDOW, status="validating", metadata=metadata,
        errors=None, total=0, completed=0, failed=0, output_file_id=None, error_file_id=None,
        created_at=now, expires_at=now + int(gw.cfg.batch.completion_window_s),
        in_progress_at=None, finalizing_at=None, completed_at=None, failed_at=None,
        expired_at=None, cancelling_at=None, cancelled_at=None,
        output_expiry_s=output_expiry_s,
    )  # fmt: skip
    await st.run(st.batches.create, rec)
    return rec


async def create_batch(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    body = decode(await req.json_body(gw.max_body), CreateBatch)
    endpoint = _checked(body.endpoint, body.completion_window)
    metadata = _metadata_checked(body.metadata)
    policy = body.output_expires_after
    output_expiry = None
    if policy is not None:
        output_expiry = expiry_policy(
            policy.get("anchor"), policy.get("seconds"), "output_expires_after"
        )
    st = await handler_stores(gw)
    file = _input_checked(await live_file(st, key.tenant, body.input_file_id, "input_file_id"))
    rec = await _new_batch(gw, st, key, endpoint, file, metadata, output_expiry)
    await req.respond_json(200, objects.batch_object(rec))
    return "-"


async def _batch(st: OffLoopStores, tenant: str, batch_id: str) -> BatchRecord:
    rec = await st.run(st.batches.get, tenant, batch_id)
    if rec is None:
        raise BATCH_NOT_FOUND.build(id=quote(batch_id))
    return rec


async def list_batches(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    params = query(req)
    limit = page_size(params, 100, default=20)
    st = await handler_stores(gw)
    with known_cursor(BATCH_NOT_FOUND):
        found = await st.run(st.batches.page, key.tenant, params.get("after"), limit + 1)
    await req.respond_json(200, cursor_page(found, limit, objects.batch_object))
    return "-"


def _split(req: Request, prefix: str) -> tuple[str, str]:
    batch_id, _, tail = req.path.removeprefix(prefix).partition("/")
    return batch_id, tail


async def _cancel(gw: Gateway, req: Request, prefix: str) -> None:
    key = gw.authenticate(req)
    batch_id, tail = _split(req, prefix)
    if tail != "cancel":
        raise UNKNOWN_URL.build(method="POST", path=quote(req.path))
    st = await handler_stores(gw)
    rec = await _batch(st, key.tenant, batch_id)
    await st.run(st.batches.set_status, rec.id, "cancelling", int(time.time()),
                 ("validating", "in_progress"))  # fmt: skip
    rec = await _batch(st, key.tenant, batch_id)
    # asking again while it cancels (or once it has) is fine; a batch that ended is not
    if rec.status not in ("cancelling", "cancelled"):
        raise BATCH_NOT_CANCELLABLE.build(state=rec.status)
    await req.respond_json(200, objects.batch_object(rec))


async def batches_get(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    batch_id, tail = _split(req, "/v1/batches/")
    if tail:
        raise UNKNOWN_URL.build(method="GET", path=quote(req.path))
    st = await handler_stores(gw)
    await req.respond_json(200, objects.batch_object(await _batch(st, key.tenant, batch_id)))
    return "-"


async def batches_cancel(gw: Gateway, req: Request) -> str:
    await _cancel(gw, req, "/v1/batches/")
    return "-"


# ------------------------------------------------------------------ /v1/batch


async def batch_submit(gw: Gateway, req: Request) -> str:
    """POST /v1/batch: the JSONL (raw body, or a multipart `file`) and the batch at once."""
    key = gw.authenticate(req)
    st = await handler_stores(gw)
    params = query(req)
    if header(req, b"content-type").lower().startswith(b"multipart/"):
        fields, file = await read_form(gw, req, st, key.tenant, "batch")
        if file is None:
            raise invalid("Missing required parameter: 'file'.", param="file",
                          code="missing_required_parameter")  # fmt: skip
        endpoint = fields.get("endpoint") or params.get("endpoint")
        window = fields.get("completion_window") or params.get("completion_window") or WINDOW
        try:
            endpoint = _checked(endpoint, window)
        except Exception:
            await st.run(st.files.delete, key.tenant, file.id)
            raise
    else:
        endpoint = _checked(params.get("endpoint"), params.get("completion_window") or WINDOW)
        limits = await upload_limits(gw, st, key.tenant)
        file = await st.put(
            key.tenant, "batch", "batch.jsonl", limited(request_chunks(req), limits), limits.quota
        )
    rec = await _new_batch(gw, st, key, endpoint, file, None)
    await req.respond_json(200, objects.batch_object(rec))
    return "-"


async def batch_list(gw: Gateway, req: Request) -> str:
    return await list_batches(gw, req)


async def batch_get(gw: Gateway, req: Request) -> str:
    """GET /v1/batch/{id} and GET /v1/batch/{id}/output."""
    key = gw.authenticate(req)
    batch_id, tail = _split(req, "/v1/batch/")
    st = await handler_stores(gw)
    rec = await _batch(st, key.tenant, batch_id)
    if not tail:
        await req.respond_json(200, objects.batch_object(rec))
    elif tail == "output":
        if rec.status not in FINAL:
            raise BATCH_NOT_FINISHED.build(id=rec.id, state=rec.status)
        out = None
        if rec.output_file_id:
            out = await st.run(st.files.get, key.tenant, rec.output_file_id)
        await stream_file(req, st, out)  # none, or deleted by its owner: empty
    else:
        raise UNKNOWN_URL.build(method="GET", path=quote(req.path))
    return "-"


async def batch_cancel(gw: Gateway, req: Request) -> str:
    await _cancel(gw, req, "/v1/batch/")
    return "-"
