"""trtllm-serve's wire shapes, mirrored from its pydantic models and post-processors.

- Non-streaming bodies are ``model_dump()`` through Starlette's JSONResponse: compact JSON,
  every field present, nulls included (stop_reason, prompt_token_ids, ...).
- Chat chunks are ``model_dump_json(exclude_none=True)``: nulls omitted. The first chunk of
  each choice (role only) is written ``data: {...} \\n\\n`` with a stray space. Every content
  delta also carries ``"reasoning_content": ""`` (no reasoning parser yields "").
- Completion chunks are ``model_dump_json(exclude_unset=False)``: nulls kept.
- The usage chunk (only when stream_options is present) has ``"choices": []``.
- Streamed ids are ``chatcmpl-<engine request id>`` / ``cmpl-<id>`` (an integer); non-streamed
  ones are ``chatcmpl-<uuid hex>``. ``model`` echoes the request's model.
"""

from __future__ import annotations

import os
from binascii import hexlify
from collections.abc import Callable
from typing import Any

import orjson

from . import logprobs as lp
from .plan import AnswerPlan, ToolCall
from .textgen import Choice

_dumps = orjson.dumps


ID_BYTES = 16  # every id here is the hex of this many random bytes


def hex_id() -> str:
    return os.urandom(ID_BYTES).hex()


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _usage_event(head: dict[str, Any], plan: AnswerPlan) -> bytes:
    """The stream's last chunk: no choices, the whole request's usage."""
    return (
        b"data: "
        + _dumps(
            {**head, "choices": [], "usage": usage(plan.prompt_tokens, plan.completion_tokens)}
        )
        + b"\n\n"
    )


def error(message: str, kind: str, status: int) -> bytes:
    return _dumps(
        {"object": "error", "message": message, "type": kind, "param": None, "code": status}
    )


def error_type(status: int) -> str:
    if status >= 500:
        return "ServiceUnavailableError" if status == 503 else "InternalServerError"
    return {
        404: "NotFoundError",
        429: "RateLimitError",
        401: "AuthenticationError",
        403: "PermissionDeniedError",
    }.get(status, "BadRequestError")


def validation_error(detail: str) -> bytes:
    # RequestValidationError handler: {"error": str(exc)} -- a string, not an object.
    return _dumps({"error": detail})


def models(model: str, created: int) -> bytes:
    return _dumps(
        {
            "object": "list",
            "data": [
                {"id": model, "object": "model", "created": created, "owned_by": "tensorrt_llm"},
            ],
        }
    )


# chat, non-streaming


def _tool_calls(call: ToolCall, new_id: Callable[[], str]) -> list[dict[str, Any]]:
    return [
        {
            "id": "chatcmpl-tool-" + new_id(),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
    ]


def _message(choice: Choice, call: ToolCall | None, new_id: Callable[[], str]) -> dict[str, Any]:
    if call is not None and call.mode == "named":
        return {
            "role": "assistant",
            "content": "",
            "reasoning_content": None,
            "reasoning": None,
            "tool_calls": _tool_calls(call, new_id),
        }
    if call is not None:
        return {
            "role": "assistant",
            "content": "",
            "reasoning_content": "",
            "reasoning": None,
            "tool_calls": _tool_calls(call, new_id),
        }
    return {
        "role": "assistant",
        "content": choice.text,
        "reasoning_content": "",
        "reasoning": None,
        "tool_calls": [],
    }


# A choice with plain content and no logprobs (the common one), as orjson writes the dict
# of _choice: hand-joined around the JSON of its text, a third the cost of the dict.
_PLAIN_HEAD = b'{"index":'
_PLAIN_CONTENT = b',"message":{"role":"assistant","content":'
_PLAIN_FINISH = (
    b',"reasoning_content":"","reasoning":null,"tool_calls":[]},"logprobs":null,"finish_reason":'
)
_PLAIN_TAIL = (
    b',"mm_embedding_handle":null,"disaggregated_params":null,"avg_decoded_tokens_per_iter":null}'
)
_USAGE = (
    b'"usage":{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d,'
    b'"prompt_tokens_details":{"cached_tokens":0}}'
)


def _choice(
    plan: AnswerPlan, i: int, c: Choice, call: ToolCall | None, new_id: Callable[[], str]
) -> bytes:
    if call is None and plan.logprobs is None:
        return b"".join(
            (
                _PLAIN_HEAD,
                b"%d" % i,
                _PLAIN_CONTENT,
                _dumps(c.text),
                _PLAIN_FINISH,
                _dumps(c.finish_reason),
                b',"stop_reason":',
                _dumps(c.stop_reason),
                _PLAIN_TAIL,
            )
        )
    return _dumps(
        {
            "index": i,
            "message": _message(c, call, new_id),
            "logprobs": None
            if plan.logprobs is None
            else lp.chat(plan.logprobs, c.pieces, 0, False),
            "finish_reason": c.finish_reason,
            "stop_reason": c.stop_reason,
            "mm_embedding_handle": None,
            "disaggregated_params": None,
            "avg_decoded_tokens_per_iter": None,
        }
    )


def chat_body(
    plan: AnswerPlan, model: str, created: int, new_id: Callable[[], str] = hex_id
) -> bytes:
    """``new_id`` makes every id in it (the app's memo passes one that leaves markers).

    The bytes are orjson's of the response dict, written out by hand (choices first: the
    tool-call ids are made before the response's own id)."""
    if len(plan.choices) == 1 and len(plan.calls) == 1:
        choices = _choice(plan, 0, plan.choices[0], plan.calls[0], new_id)
    else:
        choices = b",".join(
            [
                _choice(plan, i, c, call, new_id)
                for i, (c, call) in enumerate(zip(plan.choices, plan.calls, strict=True))
            ]
        )
    prompt, completion = plan.prompt_tokens, plan.completion_tokens
    return b"".join(
        (
            b'{"id":"chatcmpl-',
            hexlify(os.urandom(ID_BYTES)) if new_id is hex_id else new_id().encode(),
            b'","object":"chat.completion","created":',
            b"%d" % created,
            b',"model":',
            _dumps(model),
            b',"choices":[',
            choices,
            b"],",
            _USAGE % (prompt, prompt + completion, completion),
            b',"prompt_token_ids":null,"prompt_token_ids_b64":null}',
        )
    )


# chat, streaming


class ChatStream:
    """Builds the SSE events of one streamed chat answer."""

    __slots__ = ("continuous", "head", "include_usage", "plan", "tool_ids")

    def __init__(
        self, plan: AnswerPlan, model: str, created: int, request_id: int, stream_options: Any
    ) -> None:
        self.plan = plan
        self.head = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        opts = stream_options if isinstance(stream_options, dict) else None
        self.include_usage = opts is not None and bool(opts.get("include_usage", True))
        self.continuous = self.include_usage and bool(opts and opts.get("continuous_usage_stats"))
        self.tool_ids = ["chatcmpl-tool-" + hex_id() for _ in plan.choices]

    def _event(self, choices: list[dict[str, Any]], done: int | None, tail: bytes) -> bytes:
        chunk: dict[str, Any] = {**self.head, "choices": choices}
        if self.continuous and done is not None:
            chunk["usage"] = usage(self.plan.prompt_tokens, done)
        return b"data: " + _dumps(chunk) + tail

    def first(self) -> list[bytes]:
        return [
            self._event([{"index": i, "delta": {"role": "assistant"}}], 0, b" \n\n")
            for i in range(len(self.plan.choices))
        ]

    def token(self, i: int, t: int) -> bytes:
        """The chunk carrying token ``t`` of choice ``i`` (the last one also finishes)."""
        choice = self.plan.choices[i]
        call = self.plan.calls[i]
        piece = choice.pieces[t]
        last = t == len(choice.pieces) - 1
        delta: dict[str, Any]
        if call is not None and call.mode == "named":
            delta = {
                "tool_calls": [
                    {
                        "type": "function",
                        "index": i,
                        "function": {"name": call.name, "arguments": piece},
                    }
                ]
            }
        elif call is not None:
            delta = {"content": "", "reasoning_content": ""}
            if t == call.head - 1:
                delta["tool_calls"] = [
                    {
                        "id": self.tool_ids[i],
                        "type": "function",
                        "index": 0,
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            elif call.head <= t < len(choice.pieces) - call.tail:
                delta["tool_calls"] = [
                    {"type": "function", "index": 0, "function": {"arguments": piece}}
                ]
        else:
            delta = {"content": piece, "reasoning_content": ""}
        out: dict[str, Any] = {"index": i, "delta": delta}
        if self.plan.logprobs is not None:
            out["logprobs"] = lp.chat(self.plan.logprobs, [piece], t, True)
        if last:
            out["finish_reason"] = choice.finish_reason
            if choice.stop_reason is not None:
                out["stop_reason"] = choice.stop_reason
        return self._event([out], t + 1, b"\n\n")

    def usage_event(self) -> bytes | None:
        return _usage_event(self.head, self.plan) if self.include_usage else None


# completions


def completion_body(
    plan: AnswerPlan, model: str, created: int, merged: bool, new_id: Callable[[], str] = hex_id
) -> bytes:
    choices = []
    for i, c in enumerate(plan.choices):
        text = c.text
        if plan.prompt_texts is not None:
            text = plan.prompt_texts[i // plan.n] + text
        choices.append(
            {
                "index": i,
                "text": text,
                "token_ids": None,
                "logprobs": None
                if plan.logprobs is None
                else lp.completion(plan.logprobs, c.pieces, 0, 0),
                "context_logits": None,
                "finish_reason": c.finish_reason,
                "stop_reason": c.stop_reason,
                "disaggregated_params": None,
                "avg_decoded_tokens_per_iter": None,
            }
        )
    # Several prompts are merged into one response that names the server's model and
    # carries an empty prompt_token_ids list instead of null.
    return _dumps(
        {
            "id": "cmpl-" + new_id(),
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage(plan.prompt_tokens, plan.completion_tokens),
            "prompt_token_ids": [] if merged else None,
        }
    )


class CompletionStream:
    __slots__ = ("continuous", "head", "include_usage", "plan")

    def __init__(
        self, plan: AnswerPlan, model: str, created: int, request_id: int, stream_options: Any
    ) -> None:
        self.plan = plan
        self.head = {
            "id": f"cmpl-{request_id}",
            "object": "text_completion",
            "created": created,
            "model": model,
        }
        opts = stream_options if isinstance(stream_options, dict) else None
        self.include_usage = opts is not None and bool(opts.get("include_usage", True))
        self.continuous = self.include_usage and bool(opts and opts.get("continuous_usage_stats"))

    def first(self) -> list[bytes]:
        return []

    def token(self, i: int, t: int) -> bytes:
        choice = self.plan.choices[i]
        text = choice.pieces[t]
        if t == 0 and self.plan.prompt_texts is not None:
            text = self.plan.prompt_texts[i // self.plan.n] + text
        last = t == len(choice.pieces) - 1
        logprobs = None
        if self.plan.logprobs is not None:
            before = sum(len(p) for p in choice.pieces[:t])  # the engine's _last_text_len
            logprobs = lp.completion(self.plan.logprobs, [choice.pieces[t]], t, before)
        chunk = {
            **self.head,
            "choices": [
                {
                    "index": i,
                    "text": text,
                    "token_ids": None,
                    "logprobs": logprobs,
                    "finish_reason": choice.finish_reason if last else None,
                    "stop_reason": choice.stop_reason if last else None,
                    "avg_decoded_tokens_per_iter": None,
                }
            ],
            "usage": usage(self.plan.prompt_tokens, t + 1) if self.continuous else None,
        }
        return b"data: " + _dumps(chunk) + b"\n\n"

    def usage_event(self) -> bytes | None:
        return _usage_event(self.head, self.plan) if self.include_usage else None


def stream_error(message: str, status: int = 500) -> bytes:
    """The event sent before a completions stream gives up mid-way."""
    return (
        b"data: "
        + _dumps(
            {
                "error": {
                    "object": "error",
                    "message": message,
                    "type": error_type(status),
                    "param": None,
                    "code": status,
                }
            }
        )
        + b"\n\n"
    )


# embeddings


def embedding_body(vectors: list[Any], model: str, created: int, prompt_tokens: int) -> bytes:
    return _dumps(
        {
            "id": "embd-" + hex_id(),
            "object": "list",
            "created": created,
            "model": model,
            "data": [
                {"index": i, "object": "embedding", "embedding": v} for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
