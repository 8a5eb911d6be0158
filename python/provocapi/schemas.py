"""Request bodies of the OpenAI surface, as strict msgspec Structs.

Each Struct lists every field OpenAI documents for the endpoint plus the
TensorRT-LLM sampling extras clients may send. Whether a field reaches the
worker is decided in `request_policy`, not here. UNSET means "not sent".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

_S = {"forbid_unknown_fields": True, "omit_defaults": False}

# The values files and batches accept (handlers/files.py, batch/records.py, /openapi.json).
FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
# OpenAI's file expiration policy: `{"anchor": "created_at", "seconds": 1 hour..30 days}`
EXPIRY_MIN_S, EXPIRY_MAX_S = 3600, 30 * 86_400

# Adapter names and Hugging Face sources (handlers/adapters.py, /openapi.json)
ADAPTER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
HF_REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$"
HF_REVISION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$"

# Integers the worker receives: a 64-bit range, a 400 naming the field beyond it
# (JSON allows any length; Python would carry a 4000-digit seed to the worker).
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class ChatRequest(msgspec.Struct, **_S):
    model: str
    messages: list[dict[str, Any]]
    # sampling and output
    frequency_penalty: float | UnsetType | None = UNSET
    presence_penalty: float | UnsetType | None = UNSET
    logit_bias: dict[str, float] | UnsetType | None = UNSET
    logprobs: bool | UnsetType | None = UNSET
    top_logprobs: Int64 | UnsetType | None = UNSET
    max_tokens: Int64 | UnsetType | None = UNSET
    max_completion_tokens: Int64 | UnsetType | None = UNSET
    n: Int64 | UnsetType | None = UNSET
    seed: Int64 | UnsetType | None = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    response_format: dict[str, Any] | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: dict[str, Any] | UnsetType | None = UNSET
    tools: list[dict[str, Any]] | UnsetType | None = UNSET
    tool_choice: str | dict[str, Any] | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    # no effect on the output: accepted, never forwarded
    user: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    store: bool | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET
    safety_identifier: str | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    prompt_cache_retention: str | UnsetType | None = UNSET
    # OpenAI features a TensorRT-LLM worker may not honour (policy decides)
    functions: Any | UnsetType = UNSET
    function_call: Any | UnsetType = UNSET
    audio: Any | UnsetType = UNSET
    modalities: Any | UnsetType = UNSET
    prediction: Any | UnsetType = UNSET
    reasoning_effort: Any | UnsetType = UNSET
    verbosity: Any | UnsetType = UNSET
    web_search_options: Any | UnsetType = UNSET
    moderation: Any | UnsetType = UNSET
    prompt_cache_options: Any | UnsetType = UNSET
    # TensorRT-LLM sampling extras
    top_k: Int64 | UnsetType | None = UNSET
    min_p: float | UnsetType | None = UNSET
    repetition_penalty: float | UnsetType | None = UNSET
    min_tokens: Int64 | UnsetType | None = UNSET
    ignore_eos: bool | UnsetType | None = UNSET
    stop_token_ids: list[Int64] | UnsetType | None = UNSET


class CompletionRequest(msgspec.Struct, **_S):
    model: str
    prompt: str | list[Any]
    best_of: Int64 | UnsetType | None = UNSET
    echo: bool | UnsetType | None = UNSET
    frequency_penalty: float | UnsetType | None = UNSET
    presence_penalty: float | UnsetType | None = UNSET
    logit_bias: dict[str, float] | UnsetType | None = UNSET
    logprobs: Int64 | UnsetType | None = UNSET
    max_tokens: Int64 | UnsetType | None = UNSET
    n: Int64 | UnsetType | None = UNSET
    seed: Int64 | UnsetType | None = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: dict[str, Any] | UnsetType | None = UNSET
    suffix: str | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET
    top_k: Int64 | UnsetType | None = UNSET
    min_p: float | UnsetType | None = UNSET
    repetition_penalty: float | UnsetType | None = UNSET
    min_tokens: Int64 | UnsetType | None = UNSET
    ignore_eos: bool | UnsetType | None = UNSET
    stop_token_ids: list[Int64] | UnsetType | None = UNSET


class EmbeddingRequest(msgspec.Struct, **_S):
    model: str
    input: str | list[Any]
    dimensions: int | UnsetType | None = UNSET
    encoding_format: Literal["float", "base64"] | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET


def given(value: object) -> bool:
    """Sent with a value: neither absent nor an explicit null."""
    return value is not UNSET and value is not None
