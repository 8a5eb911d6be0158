"""Every error the gateway can answer, declared once.

Each entry fixes the status, OpenAI's `type` (by status unless named), the
`code`, the Retry-After policy and whether routing may retry it; raisers call
`ENTRY.build(field=...)` to fill the message template. `/openapi.json` lists a
route's statuses from the entries the route declares (`route_errors.py`).
"""

from __future__ import annotations

from .errors import ApiError, ErrorSpec, RetryAfter, quote

CONFIGURED = RetryAfter.CONFIGURED
SERVER = "server_error"

# an error retrying cannot mend: the SDKs are told not to wait for it
_NO_RETRY = ((b"x-should-retry", b"false"),)

# 400: the request is wrong
INVALID_JSON = ErrorSpec(
    400,
    "invalid_json",
    "We could not parse the JSON body of your request. The body must be valid JSON "
    "(Content-Type: application/json).",
)
MISSING_PARAMETER = ErrorSpec(
    400, "missing_required_parameter", "Missing required parameter: '{name}'."
)
UNKNOWN_PARAMETER = ErrorSpec(
    400, "unknown_parameter", "Unrecognized request argument supplied: {name}"
)
INVALID_BODY = ErrorSpec(400, "invalid_type", "Invalid request body: {detail}.")
# the validation family: the raiser words the message
INVALID_TYPE = ErrorSpec(400, "invalid_type", "{message}")
INVALID_VALUE = ErrorSpec(400, "invalid_value", "{message}")
MISSING_PARAMETER_SAID = ErrorSpec(400, "missing_required_parameter", "{message}")
UNKNOWN_PARAMETER_SAID = ErrorSpec(400, "unknown_parameter", "{message}")
UNSUPPORTED_PARAMETER = ErrorSpec(
    400,
    "unsupported_parameter",
    "Unsupported parameter: '{name}' is not supported by this gateway's workers{detail}.",
)
CONTEXT_LENGTH_EXCEEDED = ErrorSpec(400, "context_length_exceeded", "{message}")
# OpenAI's words and code for an array that must hold at least one item
EMPTY_ARRAY = ErrorSpec(
    400,
    "empty_array",
    "Invalid '{name}': empty array. Expected an array with minimum length 1, but got an "
    "empty array instead.",
)
MAX_TOKENS_PER_REQUEST = ErrorSpec(
    400,
    "max_tokens_per_request",
    "Requested {total} tokens, max {limit} tokens per request. "
    "Please send the inputs in smaller batches.",
    param="input",
)
INVALID_CONFIG = ErrorSpec(400, "invalid_config", "The config was not reloaded: {reason}")
# a worker's own 4xx, passed on with its status (trtllm-serve: 400, or 422 from validation)
UPSTREAM_REJECTED = ErrorSpec(
    400, "upstream_rejected", "{message}", type="invalid_request_error", also=(422,)
)

INVALID_ADAPTER = ErrorSpec(400, "invalid_adapter", "{message}")
# a content part the models cannot read (images, audio, files): refused, never dropped
UNSUPPORTED_CONTENT = ErrorSpec(
    400,
    "unsupported_content",
    "Content parts of type '{kind}' are not supported: {why}. Send text parts "
    "(type 'text') or a string.",
)

# 401, 403: who is asking
MISSING_API_KEY = ErrorSpec(
    401,
    "missing_api_key",
    "You didn't provide an API key. Provide it in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer pk-prov-...).",
)
INVALID_API_KEY = ErrorSpec(
    401,
    "invalid_api_key",
    "Incorrect API key provided: {hint}. Create one with `provocapi keys create`.",
)
# two credentials: a proxy in front may have checked the other one (RFC 9110 5.3)
TWO_API_KEYS = ErrorSpec(
    401,
    "invalid_api_key",
    "The request carries more than one Authorization header; send exactly one.",
)
ADMIN_KEY_REQUIRED = ErrorSpec(401, "invalid_api_key", "This endpoint needs the admin key.")
ADMIN_DISABLED = ErrorSpec(
    403, "admin_disabled", "Admin endpoints are off: set [server].admin_key or PROVOCAPI_ADMIN_KEY."
)
ADAPTER_QUOTA = ErrorSpec(
    403,
    "adapter_quota_exceeded",
    "Your adapters would exceed the quota of {limit}; delete some first.",
    headers=_NO_RETRY,
)
# a browser page from an origin [server] cors_allow_origins does not list (cors.py)
ORIGIN_NOT_ALLOWED = ErrorSpec(
    403,
    "origin_not_allowed",
    "Browser calls from the origin {origin} are not allowed; {remedy}",
    headers=_NO_RETRY,
)
# /health, /health/ready, /metrics need no key: a page of any site could read them
# through the browser of someone inside the network
NOT_FOR_BROWSERS = ErrorSpec(
    403,
    "origin_not_allowed",
    "{path} answers probes and scrapers, not browser pages.",
    headers=_NO_RETRY,
)
# keyless mode answers requests addressed to this machine only (loopback.py: DNS rebinding)
HOST_NOT_LOCAL = ErrorSpec(
    403,
    "host_not_allowed",
    "This keyless gateway answers requests addressed to this machine only (Host localhost "
    "or a loopback address), not to {host}: a web page whose name was pointed at this "
    "machine must not use it. Call it as localhost or 127.0.0.1, or give it keys.",
    headers=_NO_RETRY,
)
TENANT_FORBIDDEN = ErrorSpec(
    403,
    "permission_denied",
    "A tenant's key can only read its own usage; the tenant parameter needs the admin key.",
    param="tenant",
)

# 404, 405: what is asked for
MODEL_NOT_FOUND = ErrorSpec(
    404,
    "model_not_found",
    "The model '{model}' does not exist or you do not have access to it.",
    param="model",
)
ADAPTER_NOT_FOUND = ErrorSpec(
    404,
    "adapter_not_found",
    "The adapter '{adapter}' does not exist for model '{model}'.",
    param="model",
)
MODEL_NOT_SUPPORTED = ErrorSpec(
    404,
    "model_not_supported",
    "'{model}' is {article} {kind} model and not supported in the {endpoint} endpoint.",
    param="model",
)
FILE_NOT_FOUND = ErrorSpec(404, "file_not_found", "No such File object: {id}.", param="id")
BATCH_NOT_FOUND = ErrorSpec(404, "batch_not_found", "No such Batch object: {id}.", param="id")
ADAPTER_ID_NOT_FOUND = ErrorSpec(
    404, "adapter_not_found", "No adapter with id '{adapter_id}'.", param="adapter_id"
)
UNKNOWN_URL = ErrorSpec(404, "unknown_url", "Invalid URL ({method} {path}).")
# ... that is one of ours under a misdirected base_url (misdirected.py): which one
MISDIRECTED_URL = ErrorSpec(
    404, "unknown_url", "Invalid URL ({method} {path}): the endpoint is {method} {served}{why}."
)
# an OpenAI API the gateway does not serve (unserved.py): what to use instead
API_NOT_PROVIDED = ErrorSpec(
    404,
    "api_not_provided",
    "{api} is not provided by this gateway ({method} {path}); {instead}.",
)
METHOD_NOT_ALLOWED = ErrorSpec(
    405, "method_not_allowed", "Method {method} is not allowed on {path}; use {allow}."
)

# 409: not in this state (the SDKs retry 409 unless told not to)
FILE_IN_USE = ErrorSpec(
    409,
    "file_in_use",
    "The file {id} is the input of a batch still running; cancel the batch first.",
    param="id",
    headers=_NO_RETRY,
)
BATCH_NOT_FINISHED = ErrorSpec(
    409,
    "batch_not_finished",
    "Batch {id} is {state}: its output is there once it has ended.",
    headers=_NO_RETRY,
)
# OpenAI's wording; a batch that ended (or is finalizing) has nothing left to cancel
BATCH_NOT_CANCELLABLE = ErrorSpec(
    409,
    "batch_not_cancellable",
    "Cannot cancel a batch with status '{state}'.",
    headers=_NO_RETRY,
)
# 409: it exists already
ADAPTER_EXISTS = ErrorSpec(
    409,
    "adapter_exists",
    "An adapter named '{name}' already exists for you{where}; delete it or choose another name.",
    type="invalid_request_error",
    param="name",
    headers=_NO_RETRY,
)

# 408, 413: how the body arrives
# the connection is closed after the answer: the rest of the body is never read
REQUEST_TIMEOUT = ErrorSpec(
    408,
    "request_timeout",
    "The request body did not arrive within {timeout_s:g} s.",
    headers=((b"connection", b"close"),),
)
REQUEST_TOO_LARGE = ErrorSpec(
    413, "request_too_large", "Request body too large: the limit is {limit} bytes."
)
# RFC 9110 15.5.16: a content coding the server does not decode is a 415, with
# Accept-Encoding saying what it takes
UNSUPPORTED_CONTENT_ENCODING = ErrorSpec(
    415,
    "unsupported_content_encoding",
    "Content-Encoding '{encoding}' is not supported: send the request body uncompressed.",
    headers=((b"accept-encoding", b"identity"),),
)
# RFC 9110 15.5.16: a body in a media type the route does not read (a JSON route sent
# text, a form or multipart); OpenAI answers 400 after ignoring such a body (docs/config.md)
UNSUPPORTED_MEDIA_TYPE = ErrorSpec(
    415,
    "unsupported_media_type",
    "Content-Type '{media_type}' is not JSON: send the request body as JSON, with "
    "Content-Type: application/json{hint}.",
    headers=_NO_RETRY,
)

FILE_TOO_LARGE = ErrorSpec(
    413,
    "file_too_large",
    "The file is too large: the limit is {limit} bytes ([batch].max_file_bytes).",
)
STORAGE_QUOTA_EXCEEDED = ErrorSpec(
    413,
    "storage_quota_exceeded",
    "This upload would take your stored files past your quota of {quota} bytes "
    "({used} bytes in use); delete files you no longer need.",
)

# 429: too much, from this tenant or for this model
RATE_LIMITED = ErrorSpec(
    429,
    "rate_limit_exceeded",
    "Rate limit reached for {scope} on {unit}: Limit {limit}, Used {used}, "
    "Requested {asked}. Please try again in {wait}.",
    retry_after=RetryAfter.COMPUTED,
)
OVER_RATE_LIMIT = ErrorSpec(  # could never fit: retrying does not help
    429,
    "rate_limit_exceeded",
    "Request too large for {scope} on {unit}: Limit {limit}, Requested {asked}. "
    "The input or output tokens must be reduced in order to run successfully.",
    headers=_NO_RETRY,
)
QUEUE_FULL = ErrorSpec(
    429,
    "queue_full",
    "Too many requests are waiting for model '{model}'; retry shortly.",
    retry_after=1,
)

# 500: our bug
INTERNAL_ERROR = ErrorSpec(
    500,
    "internal_error",
    "The gateway hit an internal error; it has been logged. Request id: {request_id}.",
    type=SERVER,
)

# 502, 503, 504: the workers
UPSTREAM_ERROR = ErrorSpec(
    502, "upstream_error", "Bad gateway: {detail}.", type=SERVER, retryable=True
)
NO_HEALTHY_WORKER = ErrorSpec(
    503,
    "no_healthy_worker",
    "No healthy worker is available for {what}.",
    type=SERVER,
    retry_after=CONFIGURED,
    retryable=True,
)
POOL_SATURATED = ErrorSpec(
    503, "pool_saturated", "Every worker of model '{model}' is busy.", type=SERVER, retry_after=1
)
QUEUE_TIMEOUT = ErrorSpec(
    503,
    "queue_timeout",
    "No worker of model '{model}' freed up within {wait_s:g} s; retry shortly.",
    type=SERVER,
    retry_after=1,
)
WORKER_OVERLOADED = ErrorSpec(
    503,
    "worker_overloaded",
    "The model's workers are overloaded ({detail}); retry shortly.",
    type=SERVER,
    retry_after=CONFIGURED,
    retryable=True,
    headers=((b"x-should-retry", b"true"),),
)
USAGE_STORE_UNAVAILABLE = ErrorSpec(
    503,
    "usage_store_unavailable",
    "The usage store is unavailable right now; usage is kept and will be there. Retry shortly.",
    type=SERVER,
    retry_after=5,
)
USAGE_SPOOL_FULL = ErrorSpec(
    503,
    "usage_spool_full",
    "The gateway cannot record usage right now (its usage spool is full while "
    "the usage store catches up); the request was not run. Retry shortly.",
    type=SERVER,
    retry_after=5,
)
USAGE_SPOOL_UNAVAILABLE = ErrorSpec(
    503,
    "usage_spool_unavailable",
    "The gateway cannot record usage right now (its usage spool is not writable); "
    "the request was not run.",
    type=SERVER,
    retry_after=5,
)
UPSTREAM_TIMEOUT = ErrorSpec(
    504, "upstream_timeout", "The worker did not answer in time.", type=SERVER, retryable=True
)
WAKE_TIMEOUT = ErrorSpec(
    504,
    "wake_timeout",
    "No worker of model '{model}' became ready within {waited_s:.0f} s of waking it; retry later.",
    type=SERVER,
)


_SAID = {
    s.code: s for s in (INVALID_TYPE, INVALID_VALUE, MISSING_PARAMETER_SAID, UNKNOWN_PARAMETER_SAID)
}


def invalid(message: str, *, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return _SAID[code].build(message=message, param=param)


def unsupported(param: str, why: str = "") -> ApiError:
    return UNSUPPORTED_PARAMETER.build(name=param, detail=f": {why}" if why else "", param=param)


def refuse_unknown_keys(obj: dict[str, object], known: frozenset[str], where: str) -> None:
    """A 400 naming the first key of the nested object `where` outside `known`.
    trtllm-serve forbids extra keys in its nested models too, but its 400 is a pydantic
    dump with no `param`: the client gets ours, naming the key (`tools[0].function.x`)."""
    for key in obj:
        if key not in known:
            param = quote(f"{where}.{key}")
            raise UNKNOWN_PARAMETER.build(name=param, param=param)


def empty_array(param: str) -> ApiError:
    return EMPTY_ARRAY.build(name=param, param=param)


def model_not_found(model: str) -> ApiError:
    return MODEL_NOT_FOUND.build(model=quote(model))
