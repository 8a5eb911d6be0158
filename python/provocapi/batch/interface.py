"""What the runner and the routes need from storage.

The embedded implementation (`local.py`) is a directory plus SQLite under the
data dir; a shared volume, object storage or PostgreSQL can implement the same
Protocols later without touching the runner or the routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from typing import Protocol

from .records import BatchRecord, Expiry, FileRecord, LineTokens, Part


class FileStore(Protocol):
    """Files' bytes (streamed, never whole in memory) and their metadata."""

    async def receive(self, chunks: AsyncIterator[bytes]) -> Part:
        """An upload's bytes as they stream in, kept aside until `commit`."""
        ...

    def commit(
        self, part: Part, tenant: str, purpose: str, filename: str, quota: int | None = ...
    ) -> FileRecord:
        """Makes a received upload durable and visible (blocking: call it off the loop);
        OverQuota, keeping nothing, if the tenant's files would then pass `quota`."""
        ...

    def write(
        self,
        tenant: str,
        purpose: str,
        filename: str,
        chunks: Iterable[bytes],
        file_id: str | None = None,
        expires: Expiry = ...,
    ) -> FileRecord:
        """A file the gateway writes itself (a batch's output and error files). Given a
        `file_id`, writing again replaces that file: a rerun after a crash leaves one."""
        ...

    def get(self, tenant: str, file_id: str) -> FileRecord | None: ...

    def page(
        self,
        tenant: str,
        purpose: str | None,
        after: str | None,
        limit: int,
        order: str,
        now: float,
    ) -> list[FileRecord]:
        """Up to `limit` files alive at `now` (expired ones are skipped before the
        limit, so a page is full while more remain). UnknownCursor when `after` is
        no file of the tenant's (an expired one still is, until it is deleted)."""
        ...

    def set_terms(self, tenant: str, file_id: str, purpose: str, expires: int | None) -> None:
        """The purpose and the lifetime from creation (None: until deleted) an upload's
        form asked for, once it has been read whole."""
        ...

    def chunks(self, file_id: str) -> Generator[bytes, None, None]:
        """A generator, so a reader that stops early can close it and free the file."""
        ...

    def lines(self, file_id: str) -> Iterator[bytes]: ...

    def delete(self, tenant: str, file_id: str) -> bool: ...

    def used_bytes(self, tenant: str) -> int: ...

    def expired(self, now: int) -> list[FileRecord]: ...

    def sweep_leftovers(self, older_than: float) -> int:
        """Deletes what killed processes left (cut uploads, files without their
        metadata) last changed before `older_than`; how many went."""
        ...


class BatchStore(Protocol):
    """Batches, a lease per batch for the one runner working on it, and each
    line's outcome (so a re-run after a crash answers every line exactly once)."""

    def create(self, rec: BatchRecord) -> None: ...

    def get(self, tenant: str | None, batch_id: str) -> BatchRecord | None: ...

    def page(self, tenant: str, after: str | None, limit: int) -> list[BatchRecord]:
        """UnknownCursor when `after` is no batch of the tenant's."""
        ...

    def update(self, batch_id: str, **fields: object) -> None: ...

    def set_status(self, batch_id: str, status: str, now: int, only_from: tuple[str, ...]) -> bool:
        """Moves to `status` (stamping `<status>_at`) if the batch is in `only_from`."""
        ...

    def claim(self, owner: str, lease_s: float) -> BatchRecord | None:
        """An active batch no live runner holds, leased to `owner`."""
        ...

    def renew(self, batch_id: str, owner: str, lease_s: float) -> bool: ...

    def release(self, batch_id: str, owner: str) -> None: ...

    def record_line(
        self, batch_id: str, line: int, ok: bool, outcome: bytes, tokens: LineTokens = ...
    ) -> bool:
        """Keeps a line's outcome, counts it and adds its tokens to the batch's usage,
        at once; False when it was already kept."""
        ...

    def answered(self, batch_id: str) -> set[int]: ...

    def outcomes(self, batch_id: str, ok: bool) -> Iterator[bytes]:
        """The kept outcomes, in line order."""
        ...

    def active_using(self, file_id: str) -> bool: ...

    def active_of_key(self, key_id: str) -> list[str]: ...
