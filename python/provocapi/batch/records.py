"""The rows the stores keep: a stored file and a batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..schemas import BATCH_ENDPOINTS

ENDPOINTS = BATCH_ENDPOINTS
# a runner works on these; the others are final
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
FINAL = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    tenant: str
    purpose: str
    filename: str
    bytes: int
    created_at: int
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: str
    tenant: str
    key_id: str
    endpoint: str
    input_file_id: str
    window: str
    status: str
    metadata: dict[str, str] | None
    errors: list[dict[str, object]] | None
    total: int
    completed: int
    failed: int
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    expires_at: int
    in_progress_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None


@dataclass(frozen=True, slots=True)
class Part:
    """An upload received into a temporary file, not yet committed."""

    file_id: str
    tmp: Path
    size: int
