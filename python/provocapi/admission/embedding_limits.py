"""OpenAI's limits on one embeddings request, per model (docs/config.md):
at most `max_inputs` inputs, `max_input_tokens` tokens in each (never more than
the model's `context_length`), `max_request_tokens` in all of them.

The number of inputs is checked before anything is counted, so a request of
30,000 inputs costs a `len`; each input is counted only up to its limit.
"""

from __future__ import annotations

from typing import Any

from ..config import ModelConfig
from ..error_catalog import CONTEXT_LENGTH_EXCEEDED, INVALID_VALUE, MAX_TOKENS_PER_REQUEST


def input_count(inp: str | list[Any]) -> int:
    """A string, or a list of token ids, is one input; other lists hold one per item
    (their shape was checked when the request was planned)."""
    if isinstance(inp, str) or (inp and isinstance(inp[0], int)):
        return 1
    return len(inp)


def per_input_limit(model: ModelConfig) -> int:
    return min(model.max_input_tokens, model.context_length)


def check_inputs(model: ModelConfig, inp: str | list[Any]) -> None:
    n = input_count(inp)
    if n > model.max_inputs:
        raise INVALID_VALUE.build(
            message=f"'$.input' is invalid: an embeddings request takes at most "
            f"{model.max_inputs} inputs, and this one has {n}. Please send them in smaller "
            "batches.",
            param="input",
        )


def check_tokens(model: ModelConfig, inp: str | list[Any], counts: list[int]) -> int:
    """The request's tokens, once every input is within its limit and their sum is too."""
    limit = per_input_limit(model)
    for i, n in enumerate(counts):
        if n > limit:
            where = "the input" if isinstance(inp, str) else f"input[{i}]"
            raise CONTEXT_LENGTH_EXCEEDED.build(
                message=f"This model's maximum context length is {limit} tokens, however you "
                f"requested more than {limit} tokens in {where}. Please reduce your input.",
                param="input" if isinstance(inp, str) else f"input[{i}]",
            )
    total = sum(counts)
    if total > model.max_request_tokens:
        raise MAX_TOKENS_PER_REQUEST.build(total=total, limit=model.max_request_tokens)
    return total
