"""Every probe in the order it runs, with the request it sends (README's table says the
same; tests/audit checks that the two agree)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import probe_chat, probe_misc, probe_tools
from .context import Ctx
from .verdicts import Outcome


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    request: str
    run: Callable[[Ctx], Outcome]


PROBES: tuple[Probe, ...] = (
    Probe("chat", "POST /chat/completions, one user message", probe_chat.chat),
    Probe("chat_stream", "the same with stream: true", probe_chat.chat_stream),
    Probe("include_usage", "streamed, stream_options.include_usage", probe_chat.include_usage),
    Probe("tools_auto", "two tools, tool_choice auto", probe_tools.tools_auto),
    Probe("tools_required", "two tools, tool_choice required", probe_tools.tools_required),
    Probe("tools_named", "tool_choice names get_time", probe_tools.tools_named),
    Probe("tools_none", "two tools, tool_choice none", probe_tools.tools_none),
    Probe("parallel_tool_calls", "parallel_tool_calls: true", probe_tools.parallel_tool_calls),
    Probe("streamed_tool_call", "streamed, tool_choice required", probe_tools.streamed_tool_call),
    Probe("json_object", "response_format json_object", probe_chat.json_object),
    Probe("json_schema", "response_format json_schema, strict", probe_chat.json_schema),
    Probe("logprobs", "logprobs: true, top_logprobs: 2", probe_chat.logprobs),
    Probe("seed", "seed 4242, temperature 1, twice", probe_chat.seed),
    Probe("n", "n: 2", probe_chat.n_choices),
    Probe("stop", 'stop: ["e"]', probe_chat.stop),
    Probe(
        "max_tokens_over_cap", "max_tokens above the model's cap", probe_chat.max_tokens_over_cap
    ),
    Probe("image_part", "an image_url part (a red PNG)", probe_chat.image_part),
    Probe("unknown_field", "an extra top-level field", probe_chat.unknown_field),
    Probe("error_envelope", "messages: a string", probe_chat.error_envelope),
    Probe("request_id", "X-Request-Id header", probe_misc.request_id),
    Probe("embeddings_float", "POST /embeddings, two inputs", probe_misc.embeddings_float),
    Probe("embeddings_base64", "encoding_format base64", probe_misc.embeddings_base64),
    Probe("embeddings_dimensions", "dimensions: 64", probe_misc.embeddings_dimensions),
    Probe("responses_api", "POST /responses", probe_misc.responses_api),
    Probe("rate_limit", "cheap chats until a 429 (--provoke-429)", probe_misc.rate_limit),
)
