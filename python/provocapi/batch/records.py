"""The rows the stores keep: a stored file and a batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..schemas import BATCH_ENDPOINTS

ENDPOINTS = BATCH_ENDPOINTS
# a runner works on these; the others are final
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
FINAL = ("completed", "failed", "expired", "cancelled")


# how long a file lives from its creation: seconds, None (until deleted), or the
# store's default (`[batch] file_expiry_s`)
Expiry = int | None | Literal["default"]


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
    model: str | None = None  # the lines' model, once validated
    # the answered lines' tokens; None for a batch stored before they were kept
    input_tokens: int | None = 0
    cached_tokens: int | None = 0
    output_tokens: int | None = 0
    reasoning_tokens: int | None = 0
    output_expiry_s: int | None = None  # `output_expires_after`; None: the store's default


@dataclass(frozen=True, slots=True)
class LineTokens:
    """What one answered line's `usage` says it used (zeros for a refused line)."""

    input: int = 0
    cached: int = 0
    output: int = 0
    reasoning: int = 0

    @classmethod
    def of(cls, body: object) -> LineTokens:
        """From an answer's `usage` (chat and completions: prompt and completion
        tokens; embeddings: prompt tokens only); zeros where it says nothing."""
        usage = body.get("usage") if isinstance(body, dict) else None
        if not isinstance(usage, dict):
            return cls()
        details = usage.get("prompt_tokens_details")
        out_details = usage.get("completion_tokens_details")
        return cls(
            _count(usage.get("prompt_tokens")),
            _count(details.get("cached_tokens") if isinstance(details, dict) else None),
            _count(usage.get("completion_tokens")),
            _count(out_details.get("reasoning_tokens") if isinstance(out_details, dict) else None),
        )

    @property
    def total(self) -> int:
        return self.input + self.output


def _count(value: object) -> int:
    return value if type(value) is int and value > 0 else 0


@dataclass(frozen=True, slots=True)
class Part:
    """An upload received into a temporary file, not yet committed."""

    file_id: str
    tmp: Path
    size: int


class OverQuota(Exception):
    """An upload that would take its tenant's stored files past the quota; `used`
    is what they take without it."""

    def __init__(self, used: int) -> None:
        super().__init__(used)
        self.used = used
