"""OpenAI's error envelope, rendered in one place.

Every failure a client can see is an `ApiError`: a status, OpenAI's `type`, a
stable `code` and the offending `param`. Handlers raise it; the app renders it.
Client input repeated in an error (a model name, a field name, a value, a path)
goes through `quote`, so an answer never grows with what the client sent.
"""

from __future__ import annotations

import orjson

# At most this many characters of client input appear in an error (docs/config.md).
QUOTE_CHARS = 256
_ELLIPSIS = "..."

# status → OpenAI's error type (the SDKs pick their exception class by status).
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class ApiError(Exception):
    """An error with OpenAI's shape; `headers` go on the response (Retry-After...)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        retryable: bool = False,
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


def invalid(message: str, *, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def unsupported(param: str, why: str = "") -> ApiError:
    detail = f": {why}" if why else ""
    return ApiError(
        400,
        f"Unsupported parameter: '{param}' is not supported by this gateway's workers{detail}.",
        code="unsupported_parameter",
        param=param,
    )


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{quote(model)}' does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )
