"""What a client may ask, and what the worker is sent.

trtllm-serve rejects unknown fields (pydantic extra="forbid"), so the worker
gets only fields its protocol accepts (`trtllm_protocol`, copied from the
targeted TensorRT-LLM tag). A field that does not change the output is
accepted and dropped; any other OpenAI field the worker cannot honour is a 400
naming it, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec
from msgspec import UNSET

from . import trtllm_protocol as trt
from .adapters import Adapter
from .catalog import Resolved
from .error_catalog import empty_array, invalid, refuse_unknown_keys, unsupported
from .errors import quote
from .output_options import chat_logprobs, completion_logprobs, response_format
from .request_shapes import token_ids_checked, token_lists
from .schemas import ChatRequest, CompletionRequest, EmbeddingRequest, given
from .tool_ids import mistral_history

# Accepted from clients, never forwarded: bookkeeping that cannot change the output.
DROPPED = frozenset(
    {
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
_HANDLED = frozenset({"model", "stream_options", "max_completion_tokens", "max_tokens"})


def _unsupported_fields(struct: type[msgspec.Struct], accepted: frozenset[str]) -> tuple[str, ...]:
    return tuple(
        f
        for f in struct.__struct_fields__
        if f not in accepted and f not in DROPPED and f not in _HANDLED
    )


CHAT_UNSUPPORTED = _unsupported_fields(ChatRequest, trt.CHAT_COMPLETION_FIELDS)
COMPLETION_UNSUPPORTED = _unsupported_fields(CompletionRequest, trt.COMPLETION_FIELDS)


def _getter(fields: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """All `fields` of a request in one C call, always as a tuple."""
    if len(fields) > 1:
        return attrgetter(*fields)
    return lambda req: tuple(getattr(req, f) for f in fields)


_CHAT_UNSUPPORTED_GET = _getter(CHAT_UNSUPPORTED)
_COMPLETION_UNSUPPORTED_GET = _getter(COMPLETION_UNSUPPORTED)
_CHAT_DROP = {f: UNSET for f in DROPPED if f in ChatRequest.__struct_fields__}
# the fields of a chat request that ask for more than plain sampling (tools, logprobs, a
# response format, stream options, the newer max field) or are dropped: the usual
# request sends none of them, and one C call tells so
_CHAT_EXTRAS = (
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
    "response_format",
    "stream_options",
    "max_completion_tokens",
    "parallel_tool_calls",
    *_CHAT_DROP,
)
# with the unsupported ones: a request that sends none of them, one C call tells so
_CHAT_UNUSUAL_GET = attrgetter(*CHAT_UNSUPPORTED, *_CHAT_EXTRAS)
_COMPLETION_DROP = {f: UNSET for f in DROPPED if f in CompletionRequest.__struct_fields__}
_MAX_COMPLETION_UPSTREAM = "max_completion_tokens" in trt.CHAT_COMPLETION_FIELDS
# the name the worker reads the completion limit under, and the other (sent unset)
_LIMIT_FIELD, _UNSENT_LIMIT_FIELD = (
    ("max_completion_tokens", "max_tokens")
    if _MAX_COMPLETION_UPSTREAM
    else ("max_tokens", "max_completion_tokens")
)


@dataclass(slots=True)
class GenerationPlan:
    """The upstream request and what the relay must know to answer the client.

    The worker's body is encoded when the proxy first asks for it, not when the plan is
    made: a call refused at admission (a prompt over the window, a rate limit) never
    pays for encoding what it would have sent (a 16 MiB prompt: ~10 ms of event loop)."""

    upstream: msgspec.Struct  # the client's request as the worker gets it
    adapter: Adapter | None
    stream: bool
    include_usage: bool
    tool_family: str | None
    tool_names: list[str] | None
    max_tokens: int = 0  # per choice, as sent (admission reserves n x this)
    priority: float | None = None  # trtllm-serve's scheduling priority (batch lines)
    default_max_tokens: bool = False  # the client gave none: max_tokens is the model's
    one_tool_call: bool = False  # parallel_tool_calls: false, as OpenAI keeps it
    _body: bytes | None = None

    def fit_max_tokens(self, max_tokens: int) -> None:
        """Admission's: the model's default max_tokens would overflow the context, so the
        worker is sent what fits (before the body is encoded)."""
        self.max_tokens = max_tokens
        field = "max_tokens"
        if _MAX_COMPLETION_UPSTREAM and isinstance(self.upstream, ChatRequest):
            field = "max_completion_tokens"
        self.upstream = msgspec.structs.replace(self.upstream, **{field: max_tokens})
        self._body = None

    @property
    def body(self) -> bytes:
        body = self._body
        if body is None:
            body = _encode(self.upstream)
            if self.adapter is not None:
                body = _splice(body, "lora_request", self.adapter.lora_request())
            if self.priority is not None:
                body = _splice(body, "priority", self.priority)
            self._body = body
        return body


def _encode(upstream: msgspec.Struct) -> bytes:
    """The worker's body. An explicit null means "not sent" (as OpenAI reads it), and
    trtllm-serve refuses null for many fields (n, top_k, echo...), so a top-level null is
    never forwarded. A small body without a null anywhere skips the look (a big one
    is not scanned: looking at its fields costs less than reading its bytes)."""
    body = msgspec.json.encode(upstream)
    if len(body) <= 65536 and b":null" not in body:
        return body
    drop = {f: UNSET for f in upstream.__struct_fields__ if getattr(upstream, f) is None}
    return msgspec.json.encode(msgspec.structs.replace(upstream, **drop)) if drop else body


def _check_unsupported(
    req: msgspec.Struct, fields: tuple[str, ...], get: Callable[[Any], tuple[Any, ...]]
) -> None:
    values = get(req)
    if values.count(UNSET) == len(values):  # the usual request: none sent, one look in C
        return
    for f, v in zip(fields, values, strict=True):
        if given(v):
            raise unsupported(f)


def _range(value: Any, name: str, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise invalid(f"Invalid '{name}': {quote(value)} is outside [{lo}, {hi}].", param=name)


MAX_STOP = 4  # OpenAI's limit on `stop` sequences
LOGIT_BIAS = 100.0  # a bias is from -100 to 100 (OpenAI's documented range; trtllm-serve's too)


def _logit_bias(bias: dict[str, float]) -> None:
    """OpenAI's rules for `logit_bias`: keys are token ids, biases within ±100. The
    worker refuses the same (and ids past its vocabulary, which only it knows), but
    as an `upstream_rejected` after a round trip and in its own words."""
    for key, value in bias.items():
        if not (key.isascii() and key.isdigit()):
            raise invalid(
                f"Invalid 'logit_bias': key '{quote(key)}' is not a token id "
                "(a non-negative integer, as a string).",
                param="logit_bias",
            )
        if not -LOGIT_BIAS <= value <= LOGIT_BIAS:
            raise invalid(
                f"Invalid 'logit_bias': the bias for token {key} is {quote(value)}; "
                f"it must be from -{LOGIT_BIAS:g} to {LOGIT_BIAS:g}.",
                param="logit_bias",
            )


def _sampling(req: ChatRequest | CompletionRequest, res: Resolved) -> dict[str, Any]:
    """Checks the sampling fields; returns our defaults for those the client left out.

    temperature and top_p are always sent: a worker's own generation config
    (trtllm-serve reads the model's generation_config.json) must not decide
    what a client gets. seed, n and stop pass through as given.
    """
    # inline "given" checks: the usual request sends one or two of these
    temperature, top_p, n = req.temperature, req.top_p, req.n
    if temperature is not UNSET and temperature is not None:
        _range(temperature, "temperature", 0, 2)
    if top_p is not UNSET and top_p is not None:
        _range(top_p, "top_p", 0, 1)
    for name in ("frequency_penalty", "presence_penalty"):
        value = getattr(req, name)
        if value is not UNSET and value is not None:
            _range(value, name, -2, 2)
    if n is not UNSET and n is not None:
        _range(n, "n", 1, 128)
    if req.logit_bias:  # UNSET, None and {} are all false: one test on the usual path
        _logit_bias(req.logit_bias)
    if isinstance(req.stop, list) and len(req.stop) > MAX_STOP:
        raise invalid(
            f"Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP}, "
            f"but got an array with length {len(req.stop)} instead.",
            param="stop",
        )
    pinned: dict[str, Any] = {}
    if temperature is UNSET or temperature is None:
        pinned["temperature"] = res.model.sampling.temperature
    if top_p is UNSET or top_p is None:
        pinned["top_p"] = res.model.sampling.top_p
    return pinned


def _max_tokens(value: Any, name: str, res: Resolved) -> int:
    if not given(value):
        return res.model.default_max_tokens
    cap = res.model.max_output_tokens
    if value < 1:
        raise invalid(f"Invalid '{name}': must be at least 1.", param=name)
    if value > cap:
        raise invalid(
            f"Invalid '{name}': {quote(value)} is greater than the maximum of {cap} output tokens "
            f"for model '{res.model.id}'.",
            param=name,
        )
    return int(value)


def _stream(req: ChatRequest | CompletionRequest) -> tuple[bool, bool]:
    stream = bool(req.stream)
    opts = req.stream_options
    if given(opts):
        if not stream:
            raise invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        assert isinstance(opts, dict)
        include = opts.get("include_usage", False)
        if not isinstance(include, bool):
            raise invalid(
                "Invalid type for 'stream_options.include_usage': expected a boolean.",
                param="stream_options.include_usage",
                code="invalid_type",
            )
        return stream, include
    return stream, False


def _splice(body: bytes, field: str, value: Any) -> bytes:
    """`field` added to the encoded object. Spliced rather than re-encoded: the request
    Structs have no `lora_request` (clients choose adapters by name, never by path) and
    no `priority` field."""
    return body[:-1] + b',"' + field.encode() + b'":' + msgspec.json.encode(value) + b"}"


def with_priority(plan: GenerationPlan, priority: float | None) -> GenerationPlan:
    """trtllm-serve's scheduling `priority` (batch lines, behind the model's flag)."""
    plan.priority = priority
    return plan


def _tools(req: ChatRequest, res: Resolved) -> tuple[str | None, list[str] | None]:
    tools = req.tools
    if not given(tools):
        if given(req.tool_choice) and req.tool_choice != "none":
            raise invalid(
                "'tool_choice' is only allowed when 'tools' are given.", param="tool_choice"
            )
        return None, None
    assert isinstance(tools, list)
    if not tools:
        # OpenAI's 400 too; a worker would render its template's tool preamble around no
        # tool at all (a different prompt, and its tokens billed)
        raise empty_array("tools")
    if not res.model.capabilities.tools:
        raise unsupported("tools", f"model '{res.model.id}' has no tool calling")
    names: list[str] = []
    for i, t in enumerate(tools):
        fn = t.get("function") if t.get("type") == "function" else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise invalid(
                "Each tool must be {'type': 'function', 'function': {'name': ...}}.",
                param=f"tools[{i}]",
            )
        assert isinstance(fn, dict)
        refuse_unknown_keys(t, trt.TOOL_FIELDS, f"tools[{i}]")
        refuse_unknown_keys(fn, trt.FUNCTION_DEFINITION_FIELDS, f"tools[{i}].function")
        names.append(name)
    choice = req.tool_choice
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if choice.get("type") != "function" or name not in names:
            raise invalid("'tool_choice' must name one of the given tools.", param="tool_choice")
        assert isinstance(fn, dict)
        refuse_unknown_keys(choice, trt.NAMED_TOOL_CHOICE_FIELDS, "tool_choice")
        refuse_unknown_keys(fn, trt.NAMED_FUNCTION_FIELDS, "tool_choice.function")
    elif given(choice) and choice not in ("none", "auto", "required"):
        raise invalid(
            "'tool_choice' must be 'none', 'auto', 'required' or a named function.",
            param="tool_choice",
        )
    if choice == "none":
        return None, None  # the answer is content, even if it looks like a call
    return res.model.family, names


def _developer_as_system(messages: list[dict[str, Any]]) -> None:
    """OpenAI reads a `developer` message as the system message on its chat models; the
    workers' chat templates know only `system` (Llama and Qwen render an unknown role as
    a turn of its own beside their default system prompt, Mistral's raises). Changed in
    place, so admission counts the prompt the worker renders."""
    for m in messages:
        if m.get("role") == "developer":
            m["role"] = "system"


TEXT_ONLY = ["text"]  # `modalities`' default on OpenAI: what every worker answers anyway


def _max_fields(max_tokens: int) -> dict[str, Any]:
    """The completion limit under the name the worker's protocol reads (the other unset)."""
    return {_LIMIT_FIELD: max_tokens, _UNSENT_LIMIT_FIELD: UNSET}


def plan_chat(req: ChatRequest, res: Resolved) -> GenerationPlan:
    if req.modalities is not UNSET and req.modalities == TEXT_ONLY:
        # asks for nothing a worker does not already do: accepted, never forwarded
        req = msgspec.structs.replace(req, modalities=UNSET)
    unusual = _CHAT_UNUSUAL_GET(req)
    usual = unusual.count(UNSET) == len(unusual)
    if not usual:
        _check_unsupported(req, CHAT_UNSUPPORTED, _CHAT_UNSUPPORTED_GET)
    pinned = _sampling(req, res)
    if usual and res.model.family != "mistral":
        # the usual request: what the checks below would find for UNSET, without them
        asked = req.max_tokens
        max_tokens = _max_tokens(asked, "max_tokens", res)
        stream = bool(req.stream)
        _developer_as_system(req.messages)
        upstream = msgspec.structs.replace(
            req,
            model=res.model.served_name,
            stream_options={"include_usage": True} if stream else UNSET,
            **_max_fields(max_tokens),
            **pinned,
        )
        return GenerationPlan(
            upstream,
            res.adapter,
            stream,
            False,
            None,
            None,
            max_tokens,
            default_max_tokens=not given(asked),
        )
    default = not given(req.max_completion_tokens) and not given(req.max_tokens)
    if given(req.max_completion_tokens):
        max_tokens = _max_tokens(req.max_completion_tokens, "max_completion_tokens", res)
    else:
        max_tokens = _max_tokens(req.max_tokens, "max_tokens", res)
    stream, include_usage = _stream(req)
    family, names = _tools(req, res)
    chat_logprobs(req, res.model)
    messages = req.messages
    _developer_as_system(messages)
    if res.model.family == "mistral":  # its template refuses other tool-call ids
        messages = mistral_history(messages) or messages
    upstream = msgspec.structs.replace(
        req,
        model=res.model.served_name,
        messages=messages,
        response_format=response_format(req, res.model),
        stream_options={"include_usage": True} if stream else UNSET,
        **_max_fields(max_tokens),
        **_CHAT_DROP,
        **pinned,
    )
    return GenerationPlan(
        upstream,
        res.adapter,
        stream,
        include_usage,
        family,
        names,
        max_tokens,
        default_max_tokens=default,
        one_tool_call=req.parallel_tool_calls is False,
    )


MAX_BEST_OF = 20  # OpenAI's documented maximum


def _best_of(req: CompletionRequest, stream: bool) -> None:
    """OpenAI's rules for `best_of`: from n to 20, and not streamed (the best is known
    only at the end). Checked here, so a client gets them named before a worker runs."""
    best_of, n = req.best_of, req.n
    if not isinstance(best_of, int):  # UNSET or null: not asked
        return
    n = n if isinstance(n, int) else 1
    if not n <= best_of <= MAX_BEST_OF:
        raise invalid(
            f"Invalid 'best_of': {quote(best_of)}; it must be at least 'n' ({n}) and at most "
            f"{MAX_BEST_OF}.",
            param="best_of",
        )
    if stream and best_of > n:
        raise invalid(
            "'best_of' greater than 'n' cannot be streamed: the best completions are known "
            "only when all have ended.",
            param="best_of",
        )


def plan_completion(req: CompletionRequest, res: Resolved) -> GenerationPlan:
    _check_unsupported(req, COMPLETION_UNSUPPORTED, _COMPLETION_UNSUPPORTED_GET)
    pinned = _sampling(req, res)
    if req.suffix:  # trtllm-serve: "suffix is not supported"
        raise unsupported("suffix")
    max_tokens = _max_tokens(req.max_tokens, "max_tokens", res)
    stream, include_usage = _stream(req)
    _best_of(req, stream)
    completion_logprobs(req, res.model)
    upstream = msgspec.structs.replace(
        req,
        model=res.model.served_name,
        stream_options={"include_usage": True} if stream else UNSET,
        max_tokens=max_tokens,
        **_COMPLETION_DROP,
        **pinned,
    )
    return GenerationPlan(
        upstream,
        res.adapter,
        stream,
        include_usage,
        None,
        None,
        max_tokens,
        default_max_tokens=not given(req.max_tokens),
    )


@dataclass(slots=True)
class EmbeddingPlan:
    body: bytes
    dimensions: int | None  # truncate + renormalise to this many (Matryoshka)
    base64: bool  # the client's encoding


def _no_empty_string(inputs: list[str]) -> None:
    """OpenAI refuses an empty string as an input (token lists: `token_ids_checked`); a
    worker would answer an embedding of nothing (0 tokens) as if it meant something."""
    for i, x in enumerate(inputs):
        if not x:
            raise invalid(
                f"Invalid 'input[{i}]': it must not be an empty string.", param=f"input[{i}]"
            )


def plan_embedding(req: EmbeddingRequest, res: Resolved) -> EmbeddingPlan:
    m = res.model
    inp = req.input
    if isinstance(inp, list):
        if not inp:
            raise invalid("'input' must not be empty.", param="input")
        strings = all(type(x) is str for x in inp)
        if not (strings or token_lists(inp)):
            raise invalid(
                "Invalid 'input': expected a string, a list of strings, a list of token ids "
                "or a list of lists of token ids.",
                param="input",
                code="invalid_type",
            )
        if strings:
            _no_empty_string(inp)
        else:
            token_ids_checked(inp, "input")
    elif not inp:
        raise invalid("Invalid 'input': it must not be an empty string.", param="input")
    dims: int | None = None
    if given(req.dimensions):
        assert isinstance(req.dimensions, int)
        # a fixed-size model takes its own size, as its model card's min_dimensions says
        if m.min_dimensions is None and req.dimensions != m.dimensions:
            raise unsupported("dimensions", f"model '{m.id}' has a fixed size of {m.dimensions}")
        assert m.dimensions is not None
        if not (m.min_dimensions or m.dimensions) <= req.dimensions <= m.dimensions:
            raise invalid(
                f"Invalid 'dimensions': must be between {m.min_dimensions} and {m.dimensions} "
                f"for model '{m.id}'.",
                param="dimensions",
            )
        dims = req.dimensions if req.dimensions != m.dimensions else None
    upstream: dict[str, Any] = {
        "model": m.served_name,
        "input": inp,
        "encoding_format": "base64",  # compact on the wire; decoded by the core
    }
    return EmbeddingPlan(msgspec.json.encode(upstream), dims, req.encoding_format == "base64")
