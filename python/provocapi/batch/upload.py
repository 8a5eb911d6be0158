"""A request body as a stream of chunks, cut off past the upload limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..asgi import Request
from ..error_catalog import FILE_TOO_LARGE, STORAGE_QUOTA_EXCEEDED
from ..errors import ApiError
from ..query_params import query_dict


class UploadLimits:
    """`[batch] max_file_bytes` and what is left of the tenant's quota."""

    def __init__(self, max_file_bytes: int, quota: int, used: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.quota = quota
        self.used = used

    def check(self, size: int) -> None:
        if size > self.max_file_bytes:
            raise FILE_TOO_LARGE.build(limit=self.max_file_bytes)
        if self.used + size > self.quota:
            raise STORAGE_QUOTA_EXCEEDED.build(quota=self.quota, used=self.used)

    def fail(self) -> ApiError | None:
        """Refused before reading anything (the quota is already used up)."""
        if self.used >= self.quota:
            return STORAGE_QUOTA_EXCEEDED.build(quota=self.quota, used=self.used)
        return None


async def limited(chunks: AsyncIterator[bytes], limits: UploadLimits) -> AsyncIterator[bytes]:
    """Passes chunks on, refusing (413) as soon as the total passes a limit."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        limits.check(size)
        yield chunk


def query(req: Request) -> dict[str, str]:
    return query_dict(req.scope.get("query_string", b""))


def header(req: Request, name: bytes) -> bytes:
    for key, value in req.scope["headers"]:
        if key == name:
            return bytes(value)
    return b""
