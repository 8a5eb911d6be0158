"""OpenAI's error envelope, rendered in one place.

Every failure a client can see is an `ApiError`: a status, OpenAI's `type`, a
stable `code` and the offending `param`. Handlers raise it; the app renders it.
"""

from __future__ import annotations

import orjson

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
        self.param = param
        self.type = type or _TYPE_BY_STATUS.get(status, "server_error")
        self.headers = headers or []

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type: str, code: str | None, param: str | None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


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
        f"The model '{model}' does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )
