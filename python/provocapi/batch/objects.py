"""Stored rows as OpenAI's objects (`OpenAIFile`, `Batch`, their lists).

Timestamps and file ids not set yet are left out rather than null: the spec
types them as integers and strings, and the SDKs read a missing field as None.
"""

from __future__ import annotations

from typing import Any

from .records import BatchRecord, FileRecord

_STAMPS = (
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def file_object(rec: FileRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec.id,
        "object": "file",
        "bytes": rec.bytes,
        "created_at": rec.created_at,
        "filename": rec.filename,
        "purpose": rec.purpose,
        "status": "processed",
    }
    if rec.expires_at is not None:
        out["expires_at"] = rec.expires_at
    return out


def batch_object(rec: BatchRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec.id,
        "object": "batch",
        "endpoint": rec.endpoint,
        "input_file_id": rec.input_file_id,
        "completion_window": rec.window,
        "status": rec.status,
        "created_at": rec.created_at,
        "expires_at": rec.expires_at,
        "request_counts": {
            "total": rec.total,
            "completed": rec.completed,
            "failed": rec.failed,
        },
        "metadata": rec.metadata,
    }
    if rec.model:
        out["model"] = rec.model
    if rec.input_tokens is not None:  # None: stored before usage was kept
        out["usage"] = batch_usage(rec)
    if rec.errors:
        out["errors"] = {"object": "list", "data": rec.errors}
    if rec.output_file_id:
        out["output_file_id"] = rec.output_file_id
    if rec.error_file_id:
        out["error_file_id"] = rec.error_file_id
    for name in _STAMPS:
        value = getattr(rec, name)
        if value is not None:
            out[name] = value
    return out


def batch_usage(rec: BatchRecord) -> dict[str, Any]:
    """OpenAI's `usage` of a batch: its answered lines' tokens, live while it runs."""
    inputs, outputs = rec.input_tokens or 0, rec.output_tokens or 0
    return {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": rec.cached_tokens or 0},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": rec.reasoning_tokens or 0},
        "total_tokens": inputs + outputs,
    }
