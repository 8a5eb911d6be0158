"""What a ``trtllm-serve`` worker accepts and emits, as plain data.

Source: NVIDIA/TensorRT-LLM, branch main as of 2026 (the stored copies we could read carry no
release tag; the sets below are a superset of v1.0's, which added fields over time):

- ``tensorrt_llm/serve/openai_protocol.py`` at commit 0076e9390e1ed11515f149eec356f5a03f4a00d8
  (``CompletionRequest``, ``ChatCompletionRequest``, ``EmbeddingRequest``, nested models);
- ``tensorrt_llm/serve/openai_server.py`` at commit 00057725d9a6591f033e44f31c219e2426827bb7
  (routes, error bodies);
- ``tensorrt_llm/serve/postprocess_handlers.py`` at commit
  01bf19231d29d8f0766e31c117d1cf39ed00d3d5 (stream chunk shapes);
- ``tensorrt_llm/serve/readiness.py`` at commit e6c89c08db8fc8e39c32a9589c732157df5d9dcd
  (503 while the model loads);
- ``tensorrt_llm/executor/request.py`` (``LoRARequest``: ``lora_path`` must exist on the worker,
  checked in ``__post_init__``, so a bad path is a request-validation 400).

Every request model derives from ``OpenAIBaseModel`` (pydantic ``extra="forbid"``,
``populate_by_name=True``), so a key outside these sets is a 400. The gateway's field filter
imports these sets; the simulator validates against them.
"""

from __future__ import annotations

TRTLLM_REF = "main@0076e9390e1ed11515f149eec356f5a03f4a00d8"
# What GET /version reports on the simulator: main's README badge at that time (1.3.0rc line).
TRTLLM_VERSION = "1.3.0rc21"
PROTOCOL_SOURCE = "tensorrt_llm/serve/openai_protocol.py"

# ChatCompletionRequest. ``max_completion_tokens`` is declared with
# ``validation_alias="max_tokens"``; with populate_by_name both spellings are accepted.
CHAT_COMPLETION_FIELDS: frozenset[str] = frozenset(
    {
        "messages",
        "prompt_token_ids",
        "prompt_token_ids_b64",
        "model",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "max_completion_tokens",
        "max_tokens",
        "n",
        "presence_penalty",
        "response_format",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "reasoning_effort",
        "thinking",
        "thinking_token_budget",
        "prompt_ignore_length",
        # sampling extensions
        "best_of",
        "use_beam_search",
        "top_k",
        "top_p_min",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "early_stopping",
        "stop_token_ids",
        "include_stop_str_in_output",
        "ignore_eos",
        "min_tokens",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "truncate_prompt_tokens",
        "lora_request",
        # extra params
        "echo",
        "add_generation_prompt",
        "add_special_tokens",
        "documents",
        "chat_template",
        "chat_template_kwargs",
        "injected_chat_template_kwargs",
        "media_io_kwargs",
        "disaggregated_params",
        "conversation_params",
        "cache_salt",
        "priority",
        "agent_hierarchy",
        "mm_processor_kwargs",
    }
)

# CompletionRequest. ``suffix`` is a known field, but any truthy value is rejected
# ("suffix is not supported").
COMPLETION_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "prompt",
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
        "lora_request",
        "prompt_ignore_length",
        # sampling extensions
        "use_beam_search",
        "top_k",
        "top_p_min",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "early_stopping",
        "stop_token_ids",
        "include_stop_str_in_output",
        "ignore_eos",
        "min_tokens",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "truncate_prompt_tokens",
        "return_context_logits",
        "detokenize",
        "thinking_token_budget",
        # extra params
        "add_special_tokens",
        "response_format",
        "disaggregated_params",
        "priority",
        "conversation_params",
    }
)

# EmbeddingRequest (embedding-server mode).
EMBEDDING_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "input",
        "encoding_format",
        "dimensions",
        "user",
        "add_special_tokens",
    }
)

# Fields whose value is a nested object validated by its own extra="forbid" model: the keys
# each one accepts. ``lora_request`` is a stdlib dataclass (its extra keys are not forbidden),
# and dict-typed fields (logit_bias, chat_template_kwargs, media_io_kwargs,
# mm_processor_kwargs, documents items) take any keys.
STREAM_OPTIONS_FIELDS = frozenset({"include_usage", "continuous_usage_stats"})
RESPONSE_FORMAT_FIELDS = frozenset({"type", "schema", "json_schema", "regex", "ebnf", "format"})
TOOL_FIELDS = frozenset({"type", "function"})
FUNCTION_DEFINITION_FIELDS = frozenset({"name", "description", "parameters", "strict"})
NAMED_TOOL_CHOICE_FIELDS = frozenset({"type", "function"})
NAMED_FUNCTION_FIELDS = frozenset({"name"})
THINKING_FIELDS = frozenset({"type", "keep", "effort"})
CONVERSATION_PARAMS_FIELDS = frozenset({"conversation_id", "subagent_affinity_id"})
DISAGGREGATED_PARAMS_FIELDS = frozenset(
    {
        "request_type",
        "first_gen_tokens",
        "first_gen_log_probs",
        "first_gen_logits",
        "ctx_request_id",
        "encoded_opaque_state",
        "draft_tokens",
        "disagg_request_id",
        "ctx_dp_rank",
        "ctx_info_endpoint",
        "schedule_style",
        "ctx_usage",
        "return_prompt_token_ids_b64",
        "resolved_thinking",
    }
)
LORA_REQUEST_FIELDS = frozenset({"lora_name", "lora_int_id", "lora_path", "lora_ckpt_source"})
LORA_CKPT_SOURCES = frozenset({"hf", "nemo"})

NESTED_OBJECT_FIELDS: dict[str, frozenset[str]] = {
    "stream_options": STREAM_OPTIONS_FIELDS,
    "response_format": RESPONSE_FORMAT_FIELDS,
    "thinking": THINKING_FIELDS,
    "conversation_params": CONVERSATION_PARAMS_FIELDS,
    "disaggregated_params": DISAGGREGATED_PARAMS_FIELDS,
    "lora_request": LORA_REQUEST_FIELDS,
    # list of {"type", "function": {FUNCTION_DEFINITION_FIELDS}}
    "tools": TOOL_FIELDS,
    # "none" | "auto" | "required" | {"type", "function": {"name"}}
    "tool_choice": NAMED_TOOL_CHOICE_FIELDS,
}

RESPONSE_FORMAT_TYPES = frozenset(
    {
        "text",
        "json",
        "json_schema",
        "json_object",
        "regex",
        "ebnf",
        "structural_tag",
    }
)
TOOL_CHOICE_LITERALS = frozenset({"none", "auto", "required"})
EMBEDDING_ENCODING_FORMATS = frozenset({"float", "base64"})

# The engine's CompletionOutput.finish_reason values, plus "tool_calls", which the chat
# post-processor substitutes for "stop" when a tool parser found a call.
FINISH_REASONS: frozenset[str] = frozenset({"stop", "length", "timeout", "cancelled", "tool_calls"})

# ErrorResponse(OpenAIBaseModel): the flat body of create_error_response(); "code" is the
# HTTP status as an int. Request-validation failures (RequestValidationError) do NOT use it:
# they answer 400 with {"error": str(exc)}, a plain string.
ERROR_RESPONSE_KEYS: tuple[str, ...] = ("object", "message", "type", "param", "code")

# Body of every answer while the server is STARTING (readiness.py, json.dumps defaults, so
# with ", " and ": " separators), sent with status 503, retry-after: 1 and this header.
SERVER_STATE_HEADER = "x-trtllm-server-state"
