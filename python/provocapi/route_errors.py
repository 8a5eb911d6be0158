"""Which catalogue errors each route may answer.

`/openapi.json` lists a route's error statuses from here, and the e2e test
`test_openapi_statuses.py` provokes every (route, status) pair it lists, so a
status cannot be documented without being real. Keys are the document's paths.
"""

from __future__ import annotations

from . import error_catalog as E
from .errors import ErrorSpec

ANY = (E.METHOD_NOT_ALLOWED,)  # every route has one method; the others get 405
AUTH = (E.MISSING_API_KEY, E.INVALID_API_KEY, E.TWO_API_KEYS)
QUERY = (E.INVALID_VALUE, E.INVALID_TYPE, E.MISSING_PARAMETER_SAID, E.UNKNOWN_PARAMETER_SAID)
BODY = (
    E.REQUEST_TIMEOUT,
    E.REQUEST_TOO_LARGE,
    E.UNSUPPORTED_CONTENT_ENCODING,
    E.UNSUPPORTED_MEDIA_TYPE,
    E.INVALID_JSON,
    E.MISSING_PARAMETER,
    E.UNKNOWN_PARAMETER,
    E.INVALID_BODY,
    *QUERY,
    E.UNSUPPORTED_PARAMETER,
)
RESOLVE = (E.MODEL_NOT_FOUND, E.ADAPTER_NOT_FOUND, E.MODEL_NOT_SUPPORTED)
# pipeline.py: usage begin → admit → route → upstream
ROUTED = (
    E.USAGE_SPOOL_FULL,
    E.USAGE_SPOOL_UNAVAILABLE,
    E.CONTEXT_LENGTH_EXCEEDED,
    E.RATE_LIMITED,
    E.OVER_RATE_LIMIT,
    E.QUEUE_FULL,
    E.NO_HEALTHY_WORKER,
    E.POOL_SATURATED,
    E.QUEUE_TIMEOUT,
    E.WAKE_TIMEOUT,
    E.WORKER_OVERLOADED,
    E.UPSTREAM_REJECTED,
    E.UPSTREAM_ERROR,
    E.UPSTREAM_TIMEOUT,
)
GENERATE = (*ANY, *AUTH, *BODY, *RESOLVE, *ROUTED)
CHAT = (*GENERATE, E.UNSUPPORTED_CONTENT, E.EMPTY_ARRAY)  # request_shapes.py, tools
# files and batches (handlers/files.py, handlers/batches.py)
UPLOAD = (
    *ANY,
    *AUTH,
    E.REQUEST_TIMEOUT,  # no byte within body_read_timeout_s (asgi.Request.receive_upload)
    E.UNSUPPORTED_CONTENT_ENCODING,
    E.INVALID_BODY,
    E.INVALID_VALUE,
    E.MISSING_PARAMETER_SAID,
    E.FILE_TOO_LARGE,
    E.STORAGE_QUOTA_EXCEEDED,
)
LISTING = (*ANY, *AUTH, E.INVALID_VALUE)
A_FILE = (*ANY, *AUTH, E.FILE_NOT_FOUND)
A_BATCH = (*ANY, *AUTH, E.BATCH_NOT_FOUND)

ROUTE_ERRORS: dict[tuple[str, str], tuple[ErrorSpec, ...]] = {
    ("/v1/chat/completions", "POST"): CHAT,
    ("/v1/completions", "POST"): GENERATE,
    ("/v1/embeddings", "POST"): (*GENERATE, E.MAX_TOKENS_PER_REQUEST),
    ("/v1/models", "GET"): (*ANY, *AUTH),
    ("/v1/models/{model}", "GET"): (*ANY, *AUTH, E.MODEL_NOT_FOUND),
    ("/v1/usage", "GET"): (
        *ANY,
        *AUTH,
        *QUERY,
        E.TENANT_FORBIDDEN,
        E.USAGE_STORE_UNAVAILABLE,
    ),
    ("/v1/files", "POST"): UPLOAD,
    ("/v1/files", "GET"): (*LISTING, E.FILE_NOT_FOUND),  # an unknown `after`
    ("/v1/files/{file_id}", "GET"): A_FILE,
    ("/v1/files/{file_id}", "DELETE"): (*A_FILE, E.FILE_IN_USE),
    ("/v1/files/{file_id}/content", "GET"): A_FILE,
    ("/v1/batches", "POST"): (*ANY, *AUTH, *BODY, E.FILE_NOT_FOUND),
    ("/v1/batches", "GET"): (*LISTING, E.BATCH_NOT_FOUND),
    ("/v1/batches/{batch_id}", "GET"): A_BATCH,
    ("/v1/batches/{batch_id}/cancel", "POST"): (*A_BATCH, E.BATCH_NOT_CANCELLABLE),
    ("/v1/batch", "POST"): UPLOAD,
    ("/v1/batch", "GET"): (*LISTING, E.BATCH_NOT_FOUND),
    ("/v1/batch/{batch_id}", "GET"): A_BATCH,
    ("/v1/batch/{batch_id}/cancel", "POST"): (*A_BATCH, E.BATCH_NOT_CANCELLABLE),
    ("/v1/batch/{batch_id}/output", "GET"): (*A_BATCH, E.BATCH_NOT_FINISHED),
    ("/v1/adapters", "GET"): (*LISTING, E.ADAPTER_ID_NOT_FOUND),  # an unknown `after`
    ("/v1/adapters", "POST"): (
        *ANY,
        *AUTH,
        E.REQUEST_TIMEOUT,
        E.REQUEST_TOO_LARGE,
        E.UNSUPPORTED_CONTENT_ENCODING,
        E.UNSUPPORTED_MEDIA_TYPE,
        E.INVALID_JSON,
        E.UNKNOWN_PARAMETER,
        E.INVALID_VALUE,
        E.MISSING_PARAMETER_SAID,
        E.ADAPTER_QUOTA,
        E.ADAPTER_EXISTS,
    ),
    ("/v1/adapters/upload", "POST"): (
        *ANY,
        *AUTH,
        E.REQUEST_TIMEOUT,
        E.REQUEST_TOO_LARGE,
        E.UNSUPPORTED_CONTENT_ENCODING,
        E.INVALID_BODY,
        E.INVALID_VALUE,
        E.MISSING_PARAMETER_SAID,
        E.INVALID_ADAPTER,
        E.ADAPTER_QUOTA,
        E.ADAPTER_EXISTS,
    ),
    ("/v1/adapters/{adapter_id}", "GET"): (*ANY, *AUTH, E.ADAPTER_ID_NOT_FOUND),
    ("/v1/adapters/{adapter_id}", "DELETE"): (*ANY, *AUTH, E.ADAPTER_ID_NOT_FOUND),
    ("/admin/reload", "POST"): (*ANY, E.ADMIN_DISABLED, E.ADMIN_KEY_REQUIRED, E.INVALID_CONFIG),
    ("/health", "GET"): ANY,
    # its 503 is a probe's body; 400: a `model=` that is not UTF-8 (query_params.py)
    ("/health/ready", "GET"): (*ANY, E.INVALID_VALUE, E.MODEL_NOT_FOUND),
    ("/metrics", "GET"): ANY,
    ("/openapi.json", "GET"): ANY,
}


def statuses(path: str, method: str) -> dict[int, tuple[ErrorSpec, ...]]:
    """The route's error statuses, each with the entries that answer it."""
    out: dict[int, list[ErrorSpec]] = {}
    for spec in ROUTE_ERRORS[(path, method)]:
        for status in spec.statuses:
            out.setdefault(status, []).append(spec)
    return {s: tuple(out[s]) for s in sorted(out)}
