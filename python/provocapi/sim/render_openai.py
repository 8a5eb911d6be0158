"""A plain OpenAI-compatible provider's wire shapes (the ``--openai`` profile).

Errors in OpenAI's envelope, no trtllm extras, no stray space, and every chunk carries
``"usage": null`` only when stream_options.include_usage is true.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import orjson

from . import logprobs as lp
from .plan import AnswerPlan, ToolCall
from .textgen import Choice

_dumps = orjson.dumps


ID_BYTES = 12  # every id in a body is the hex of this many random bytes


def _id(n: int = ID_BYTES) -> str:
    return os.urandom(n).hex()


def request_id() -> bytes:
    return b"req_" + os.urandom(8).hex().encode()


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
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


def error_type(status: int) -> str:
    if status == 401:
        return "invalid_request_error"
    if status == 429:
        return "rate_limit_exceeded"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error(
    message: str, kind: str, status: int, code: str | None = None, param: str | None = None
) -> bytes:
    return _dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def models(model: str, created: int) -> bytes:
    return _dumps(
        {
            "object": "list",
            "data": [
                {"id": model, "object": "model", "created": created, "owned_by": "system"},
            ],
        }
    )


def _message(choice: Choice, call: ToolCall | None, new_id: Callable[[], str]) -> dict[str, Any]:
    if call is not None:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_" + new_id(),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
            "refusal": None,
            "annotations": [],
        }
    return {"role": "assistant", "content": choice.text, "refusal": None, "annotations": []}


def chat_body(plan: AnswerPlan, model: str, created: int, new_id: Callable[[], str] = _id) -> bytes:
    """``new_id`` makes every id in it (the app's memo passes one that leaves markers)."""
    return _dumps(
        {
            "id": "chatcmpl-" + new_id(),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": i,
                    "message": _message(c, call, new_id),
                    "logprobs": None
                    if plan.logprobs is None
                    else lp.openai_chat(plan.logprobs, c.pieces, 0),
                    "finish_reason": c.finish_reason,
                }
                for i, (c, call) in enumerate(zip(plan.choices, plan.calls, strict=True))
            ],
            "usage": usage(plan.prompt_tokens, plan.completion_tokens),
            "service_tier": "default",
            "system_fingerprint": None,
        }
    )


class ChatStream:
    __slots__ = ("call_ids", "head", "include_usage", "plan")

    def __init__(
        self, plan: AnswerPlan, model: str, created: int, request_id: int, stream_options: Any
    ) -> None:
        self.plan = plan
        self.head = {
            "id": "chatcmpl-" + _id(),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": None,
        }
        self.include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage")
        )
        self.call_ids = ["call_" + _id() for _ in plan.choices]

    def _event(self, choices: list[dict[str, Any]]) -> bytes:
        chunk: dict[str, Any] = {**self.head, "choices": choices}
        if self.include_usage:
            chunk["usage"] = None
        return b"data: " + _dumps(chunk) + b"\n\n"

    def first(self) -> list[bytes]:
        return [
            self._event(
                [
                    {
                        "index": i,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            )
            for i in range(len(self.plan.choices))
        ]

    def token(self, i: int, t: int) -> bytes:
        choice = self.plan.choices[i]
        call = self.plan.calls[i]
        piece = choice.pieces[t]
        if call is not None:
            tool: dict[str, Any] = {"index": 0, "function": {"arguments": piece}}
            if t == 0:
                tool = {
                    "index": 0,
                    "id": self.call_ids[i],
                    "type": "function",
                    "function": {"name": call.name, "arguments": piece},
                }
            delta: dict[str, Any] = {"tool_calls": [tool]}
        else:
            delta = {"content": piece}
        logprobs = None
        if self.plan.logprobs is not None:
            logprobs = lp.openai_chat(self.plan.logprobs, [piece], t)
        out = self._event(
            [{"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": None}]
        )
        if t == len(choice.pieces) - 1:
            out += self._event(
                [{"index": i, "delta": {}, "logprobs": None, "finish_reason": choice.finish_reason}]
            )
        return out

    def usage_event(self) -> bytes | None:
        return _usage_event(self.head, self.plan) if self.include_usage else None


def completion_body(
    plan: AnswerPlan, model: str, created: int, merged: bool, new_id: Callable[[], str] = _id
) -> bytes:
    choices = []
    for i, c in enumerate(plan.choices):
        text = c.text
        if plan.prompt_texts is not None:
            text = plan.prompt_texts[i // plan.n] + text
        logprobs = None
        if plan.logprobs is not None:
            logprobs = lp.openai_completion(plan.logprobs, c.pieces, 0, len(text) - len(c.text))
        choices.append(
            {"text": text, "index": i, "logprobs": logprobs, "finish_reason": c.finish_reason}
        )
    return _dumps(
        {
            "id": "cmpl-" + new_id(),
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage(plan.prompt_tokens, plan.completion_tokens),
            "system_fingerprint": None,
        }
    )


class CompletionStream:
    __slots__ = ("head", "include_usage", "plan")

    def __init__(
        self, plan: AnswerPlan, model: str, created: int, request_id: int, stream_options: Any
    ) -> None:
        self.plan = plan
        self.head = {
            "id": "cmpl-" + _id(),
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self.include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage")
        )

    def first(self) -> list[bytes]:
        return []

    def _event(self, choice: dict[str, Any]) -> bytes:
        chunk: dict[str, Any] = {**self.head, "choices": [choice]}
        if self.include_usage:
            chunk["usage"] = None
        return b"data: " + _dumps(chunk) + b"\n\n"

    def token(self, i: int, t: int) -> bytes:
        choice = self.plan.choices[i]
        text = choice.pieces[t]
        if t == 0 and self.plan.prompt_texts is not None:
            text = self.plan.prompt_texts[i // self.plan.n] + text
        logprobs = None
        if self.plan.logprobs is not None:
            echo = self.plan.prompt_texts
            before = len(echo[i // self.plan.n]) if echo is not None else 0
            before += sum(len(p) for p in choice.pieces[:t])
            logprobs = lp.openai_completion(self.plan.logprobs, [choice.pieces[t]], t, before)
        out = self._event({"text": text, "index": i, "logprobs": logprobs, "finish_reason": None})
        if t == len(choice.pieces) - 1:
            out += self._event(
                {"text": "", "index": i, "logprobs": None, "finish_reason": choice.finish_reason}
            )
        return out

    def usage_event(self) -> bytes | None:
        return _usage_event(self.head, self.plan) if self.include_usage else None


def stream_error(message: str, status: int = 500) -> bytes:
    return b"data: " + error(message, error_type(status), status) + b"\n\n"


def embedding_body(vectors: list[Any], model: str, created: int, prompt_tokens: int) -> bytes:
    return _dumps(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
