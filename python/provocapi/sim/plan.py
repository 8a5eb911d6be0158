"""What to answer: token pieces per choice, computed once from the request body.

Both profiles (trtllm, openai) render the same plan; only the wire shapes differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import faults, tools
from .chat_template import template_error
from .config import SimConfig
from .logprobs import Ask
from .prompt_count import PromptCounter
from .textgen import (
    Choice,
    answer_length,
    apply_stop,
    estimate_tokens,
    prose,
    rendered,
    split_tokens,
    text_key,
)

JSON_FORMATS = frozenset({"json", "json_object", "json_schema"})


class HandlerError(Exception):
    """A failure inside the handler: trtllm answers it with its flat ErrorResponse."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)
class ToolCall:
    # "named": tool_choice named a function, the whole text becomes its arguments;
    # "parsed": the qwen3 parser lifted a <tool_call> out of the text;
    # "openai": a plain OpenAI provider's structured call.
    mode: str
    name: str
    arguments: str
    head: int = 0  # tokens before the arguments ("parsed")
    tail: int = 0  # tokens after them


@dataclass(slots=True)
class AnswerPlan:
    prompt_tokens: int
    choices: list[Choice]
    calls: list[ToolCall | None]
    triggers: faults.Triggers
    prompt_texts: list[str] | None = None  # completions echo: per prompt
    n: int = 1
    logprobs: Ask | None = None  # asked for: rendered per token
    # (completion_tokens, max_pieces), counted on first use: a plan is final once made.
    _sizes: tuple[int, int] | None = field(default=None, repr=False, compare=False)

    def recount(self) -> None:
        """After the choices' pieces were replaced."""
        self._sizes = None

    def _count(self) -> tuple[int, int]:
        lengths = [len(c.pieces) for c in self.choices]
        self._sizes = (sum(lengths), max(lengths, default=0))
        return self._sizes

    @property
    def completion_tokens(self) -> int:
        return (self._sizes or self._count())[0]

    @property
    def max_pieces(self) -> int:
        return (self._sizes or self._count())[1]


def _max_tokens(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        v = body.get(name)
        if v is not None:
            return int(v)
    return None


def _seed(body: dict[str, Any], cfg: SimConfig) -> int:
    return cfg.seed ^ int(body.get("seed") or 0)


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    return stop or []


def _check_response_format(rf: Any) -> None:
    """The ValueErrors trtllm raises while building sampling params (flat 400s)."""
    if not isinstance(rf, dict):
        return
    kind = rf.get("type")
    needed = {"json": "schema", "json_schema": "json_schema", "regex": "regex", "ebnf": "ebnf"}
    field = needed.get(kind) if isinstance(kind, str) else None
    if field and rf.get(field) is None:
        raise HandlerError(
            f"response_format.{field} is required for response_format.type == "
            f"{kind!r}, but got None."
        )


def message_text(messages: list[Any]) -> str:
    parts: list[str] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(part["text"])
    return "\n".join(parts)


def _text_choice(body: dict[str, Any], cfg: SimConfig, key: int, max_tokens: int | None) -> Choice:
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") in JSON_FORMATS:
        text = tools.json_answer(rf, key, cfg.invalid_json)
        if text is not None:
            return rendered(text, max_tokens)
    count, finish = answer_length(
        cfg.output_tokens,
        max_tokens,
        int(body.get("min_tokens") or 0),
        bool(body.get("ignore_eos")),
    )
    return prose(key, count, finish)


def _tool_choice(
    fn: dict[str, Any], named: bool, cfg: SimConfig, openai: bool, key: int, max_tokens: int | None
) -> tuple[Choice, ToolCall | None]:
    name = str(fn.get("name") or "")
    args = tools.arguments_for(fn, key)
    args_text = tools.dumps(args)
    if openai:
        return Choice(split_tokens(args_text), "tool_calls"), ToolCall("openai", name, args_text)
    if named:
        choice = rendered(args_text, max_tokens)
        return choice, ToolCall("named", name, "".join(choice.pieces))
    if cfg.tool_parser == "qwen3" and cfg.family == "qwen2":
        head, middle, tail = (split_tokens(p) for p in tools.qwen_call_parts(name, args))
        pieces = head + middle + tail
        if max_tokens is None or max_tokens >= len(pieces):
            return (
                Choice(pieces, "tool_calls"),
                ToolCall("parsed", name, args_text, len(head), len(tail)),
            )
        # Cut short, the parser finds no complete call: the markup stays content.
        return Choice(pieces[: max(max_tokens, 0)], "length"), None
    return rendered(tools.call_text(cfg.family, name, args), max_tokens), None


class Asks:
    """What a chat body asks for apart from its messages, a function of its other fields
    (and the config): bodies alike but for their messages can share one (the app keeps
    them per shape of body). ``length`` and ``logprobs`` are worked out on first need, at
    the point of plan.chat where they always were (so a bad value raises as it did)."""

    __slots__ = (
        "_ask",
        "_length",
        "include_stop",
        "max_tokens",
        "n",
        "seed",
        "stops",
        "tool_choice",
        "tool_list",
    )

    def __init__(self, body: dict[str, Any], cfg: SimConfig) -> None:
        # (_max_tokens, _seed and _stops written out, in plan.chat's order)
        get = body.get
        self.n = int(get("n") or 1)
        max_tokens = get("max_completion_tokens")
        if max_tokens is None:
            max_tokens = get("max_tokens")
        self.max_tokens: int | None = None if max_tokens is None else int(max_tokens)
        self.seed = cfg.seed ^ int(get("seed") or 0)
        self.tool_list = get("tools") or []
        self.tool_choice = get("tool_choice", "auto" if self.tool_list else "none")
        # (read before the last message's role, which came first: neither can raise here)
        stops = get("stop")
        self.stops = [stops] if isinstance(stops, str) else stops or []
        self.include_stop = bool(get("include_stop_str_in_output"))
        self._length: tuple[int, str] | bool | None = False  # False: not worked out yet
        self._ask: Ask | bool | None = False

    def length(self, body: dict[str, Any], cfg: SimConfig) -> tuple[int, str] | None:
        """A prose answer's (count, finish), the same for every choice; None: JSON asked."""
        if self._length is False:
            rf = body.get("response_format")
            if isinstance(rf, dict) and rf.get("type") in JSON_FORMATS:
                self._length = None
            else:
                self._length = answer_length(
                    cfg.output_tokens,
                    self.max_tokens,
                    int(body.get("min_tokens") or 0),
                    bool(body.get("ignore_eos")),
                )
        return self._length  # type: ignore[return-value]

    def logprobs(self, body: dict[str, Any]) -> Ask | None:
        if self._ask is False:
            get = body.get
            self._ask = Ask(int(get("top_logprobs") or 0), self.seed) if get("logprobs") else None
        return self._ask  # type: ignore[return-value]


def chat(
    body: dict[str, Any],
    cfg: SimConfig,
    openai: bool = False,
    counter: PromptCounter | None = None,
    asks: Asks | None = None,
) -> AnswerPlan:
    """``asks``: this body's, when a body of its shape was planned before (its response
    format passed the check then)."""
    messages = body.get("messages") or []
    text = message_text(messages)
    triggers = faults.parse(text)
    if not openai:
        if asks is None:
            _check_response_format(body.get("response_format"))
        if cfg.family == "mistral" and (refused := template_error(cfg.family, messages)):
            raise HandlerError(refused)
    a = Asks(body, cfg) if asks is None else asks
    n = a.n
    max_tokens = a.max_tokens
    key = text_key(text, a.seed)
    tool_choice = a.tool_choice
    last_role = messages[-1].get("role") if messages and isinstance(messages[-1], dict) else None
    wants_call = bool(a.tool_list) and tool_choice != "none" and last_role != "tool"
    fn = tools.pick_tool(a.tool_list, tool_choice) if wants_call else None
    stops = a.stops
    include_stop = a.include_stop
    # Prose (no call, no JSON format): its length is the same for every choice, worked out
    # once, before the first choice as before (so a bad min_tokens raises as it did).
    length = a.length(body, cfg) if fn is None and n > 0 else None
    finish = triggers.finish
    choices: list[Choice] = []
    calls: list[ToolCall | None] = []
    total = longest = 0
    for i in range(n):
        k = key + i * 1013
        call = None
        if length is not None:
            choice = prose(k, *length)
        elif fn is not None:
            choice, call = _tool_choice(
                fn, isinstance(tool_choice, dict), cfg, openai, k, max_tokens
            )
        else:
            choice = _text_choice(body, cfg, k, max_tokens)
        if call is None and stops:
            choice = apply_stop(choice, stops, include_stop)
        size = len(choice.pieces)
        if not size:
            choice.pieces = [""]  # the engine always yields at least one (empty) step
            size = 1
        if finish:
            choice.finish_reason = finish
        choices.append(choice)
        calls.append(call)
        total += size
        if size > longest:
            longest = size
    counted = counter.chat(body) if counter is not None else None
    prompt_tokens = estimate_tokens(text) + 3 * len(messages) if counted is None else counted
    ask = a.logprobs(body)
    return AnswerPlan(prompt_tokens, choices, calls, triggers, None, n, ask, (total, longest))


def completion(
    body: dict[str, Any],
    cfg: SimConfig,
    openai: bool = False,
    counter: PromptCounter | None = None,
) -> AnswerPlan:
    prompt = body.get("prompt")
    prompts: list[Any]
    if isinstance(prompt, str) or (
        isinstance(prompt, list) and prompt and isinstance(prompt[0], int)
    ):
        prompts = [prompt]
    else:
        prompts = list(prompt or [])
    if not prompts:
        raise HandlerError("list index out of range")
    if not openai:
        _check_response_format(body.get("response_format"))
    texts = [p if isinstance(p, str) else " ".join(map(str, p)) for p in prompts]
    triggers = faults.parse(
        "\n".join(t for t, p in zip(texts, prompts, strict=True) if isinstance(p, str))
    )
    n = int(body.get("n") or 1)
    max_tokens = _max_tokens(body, "max_tokens")
    if max_tokens is None and openai:
        max_tokens = 16  # OpenAI's legacy completions default
    stops = _stops(body)
    include_stop = bool(body.get("include_stop_str_in_output"))
    choices: list[Choice] = []
    prompt_tokens = 0
    add_special = body.get("add_special_tokens", True) is not False
    for p, text in zip(prompts, texts, strict=True):
        if not isinstance(p, str):
            prompt_tokens += len(p)
        elif counter is not None:
            prompt_tokens += counter.text(p, add_special)
        else:
            prompt_tokens += estimate_tokens(p)
        key = text_key(text, _seed(body, cfg))
        for i in range(n):
            choice = apply_stop(
                _text_choice(body, cfg, key + i * 1013, max_tokens), stops, include_stop
            )
            if not choice.pieces:
                choice.pieces = [""]
            if triggers.finish:
                choice.finish_reason = triggers.finish
            choices.append(choice)
    echo = [t if isinstance(p, str) else "" for p, t in zip(prompts, texts, strict=True)]
    return AnswerPlan(
        prompt_tokens,
        choices,
        [None] * len(choices),
        triggers,
        echo if body.get("echo") else None,
        n=n,
        # trtllm returns completion logprobs only for a truthy count (0 is none)
        logprobs=Ask(int(body["logprobs"]), _seed(body, cfg)) if body.get("logprobs") else None,
    )
