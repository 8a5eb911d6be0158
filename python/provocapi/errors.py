"""OpenAI's error envelope, rendered in one place.

Every failure a client can see is an `ApiError` built from an `ErrorSpec` of
the catalogue (`error_catalog.py`): a status, OpenAI's `type`, a stable `code`,
a Retry-After policy and whether routing may retry it. Handlers raise it; the
app renders it. Client input repeated in an error (a model name, a field name,
a value, a path) goes through `quote`, so an answer never grows with what the
client sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson

# At most this many characters of client input appear in an error (docs/config.md).
QUOTE_CHARS = 256
_ELLIPSIS = "..."

Headers = list[tuple[bytes, bytes]]

# status → OpenAI's error type (the SDKs pick their exception class by status).
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout",
    409: "invalid_request_error",  # the object's state refuses it: the client's to mend
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class RetryAfter(enum.Enum):
    """Where an error's Retry-After comes from (a fixed one is an int instead)."""

    NONE = "none"
    CONFIGURED = "configured"  # [server].retry_after_s, filled in when rendered
    COMPUTED = "computed"  # seconds passed to `build` by the raiser


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One answer the gateway can give; `template` is formatted with build's fields."""

    status: int
    code: str
    template: str
    type: str | None = None  # None: OpenAI's type for the status
    retry_after: RetryAfter | int = RetryAfter.NONE
    retryable: bool = False  # routing may try another worker (nothing reached the client)
    param: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = field(default=())
    also: tuple[int, ...] = ()  # other statuses it may carry (a worker's own, passed on)

    @property
    def statuses(self) -> tuple[int, ...]:
        return (self.status, *self.also)

    def build(
        self,
        *,
        param: str | None = None,
        retry_after_s: int | None = None,
        headers: Headers | None = None,
        status: int | None = None,
        **fields: Any,
    ) -> ApiError:
        if (self.retry_after is RetryAfter.COMPUTED) != (retry_after_s is not None):
            raise TypeError(f"{self.code}: retry_after_s goes with a computed Retry-After only")
        if status is not None and status not in self.statuses:
            status = self.status  # only the statuses declared here reach a client
        return ApiError(
            status or self.status,
            self.template.format(**fields) if fields else self.template,
            code=self.code,
            param=param if param is not None else self.param,
            type=self.type,
            headers=[*self.headers, *(headers or [])],
            retryable=self.retryable,
            retry_after=retry_after_s if retry_after_s is not None else self.retry_after,
        )


class ApiError(Exception):
    """An error with OpenAI's shape; `headers` go on the response besides Retry-After."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: Headers | None = None,
        retryable: bool = False,
        retry_after: RetryAfter | int = RetryAfter.NONE,
    ) -> None:
        super().__init__(message)
        # True for worker failures that happened before anything reached the
        # client: routing may try another worker.
        self.retryable = retryable
        self.status = status
        self.message = message
        self.code = code
        # a parameter's name can come from the client (an unknown field, a query key)
        self.param = quote(param) if param is not None and len(param) > QUOTE_CHARS else param
        self.type = type or _TYPE_BY_STATUS.get(status, "server_error")
        self.headers = headers or []
        if isinstance(retry_after, int):  # fixed or computed: known now
            self.headers = [(b"retry-after", str(retry_after).encode()), *self.headers]
        self.retry_after = retry_after

    def response_headers(self, configured_retry_after_s: int) -> Headers:
        """The headers to send; a configured Retry-After is only known to the app."""
        if self.retry_after is not RetryAfter.CONFIGURED:
            return self.headers
        return [(b"retry-after", str(configured_retry_after_s).encode()), *self.headers]

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type: str, code: str | None, param: str | None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


def quote(text: object, limit: int = QUOTE_CHARS) -> str:
    """Client input as an error may show it: at most `limit` characters, then "...".

    Lone surrogates (possible in a path or a header) become "?": the envelope is
    UTF-8 JSON and must always encode.
    """
    s = text if isinstance(text, str) else _as_text(text, limit)
    if len(s) > limit:
        s = s[:limit] + _ELLIPSIS
    if not s.isascii():
        s = s.encode("utf-8", "replace").decode("utf-8")
    return s


def _as_text(value: object, limit: int) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        # a decimal string would be long to build (and Python refuses past 4300 digits)
        return f"an integer of {int(value.bit_length() * 0.30103) + 1} digits"
    return str(value)
