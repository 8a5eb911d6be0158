"""The adapter store's interface and its record.

SQLite implements it today (`sqlite_store.py`); a shared database can take its
place for several gateway hosts, with the files on a shared volume.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol

Status = str  # "pending" | "ready" | "failed" | "deleted"


class NameTaken(Exception):
    """The tenant already has a live adapter of that name."""


@dataclass(frozen=True, slots=True)
class StoredAdapter:
    id: str
    tenant: str
    name: str
    base_model: str
    created_at: int
    status: Status
    error: str | None
    rank: int | None
    target_modules: tuple[str, ...]
    bytes: int
    source: dict[str, object]
    lora_int_id: int
    deleted_at: int | None

    def public(self) -> dict[str, object]:
        """The adapter object the API answers."""
        out: dict[str, object] = {
            "id": self.id,
            "object": "adapter",
            "name": self.name,
            "base_model": self.base_model,
            "created_at": self.created_at,
            "status": self.status,
            "rank": self.rank,
            "target_modules": list(self.target_modules),
            "bytes": self.bytes,
            "source": self.source,
            "owned_by": self.tenant,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


class AdapterStore(Protocol):
    def create(
        self, tenant: str, name: str, base_model: str, source: dict[str, object]
    ) -> StoredAdapter:
        """A new `pending` adapter with a fresh lora_int_id; NameTaken on a live duplicate."""
        ...

    def mark_ready(
        self, adapter_id: str, rank: int, modules: tuple[str, ...], size: int
    ) -> None: ...
    def mark_failed(self, adapter_id: str, error: str) -> None: ...
    def get(self, adapter_id: str) -> StoredAdapter | None: ...
    def list(self, tenant: str | None, after: str | None, limit: int) -> list[StoredAdapter]:
        """UnknownCursor when `after` is no live adapter of `tenant` (None: of anyone)."""
        ...

    def delete(self, adapter_id: str) -> bool: ...
    def ready(self) -> builtins.list[StoredAdapter]: ...
    def tenant_usage(self, tenant: str) -> tuple[int, int]:
        """(live adapters, their bytes)."""
        ...

    def fail_stale_pending(self, created_before: int, reason: str) -> int:
        """Pending adapters whose fetch died with its process (kill -9) become failed."""
        ...

    def due_for_purge(self, deleted_before: int) -> builtins.list[StoredAdapter]: ...
    def mark_purged(self, adapter_id: str) -> None: ...
    def data_version(self) -> int: ...
