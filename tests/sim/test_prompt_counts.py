"""The simulator's ``usage.prompt_tokens`` against independent references, per family.

Nothing here uses the gateway's core: Llama 3.1 and Qwen 2.5 prompts are rendered from Jinja
chat templates (tests/sim/templates, rendered as Hugging Face does) and tokenized with the
`tokenizers` package (Llama's tokenizer.json) or `tiktoken` (Qwen's ranks plus Qwen 2.5's
added tokens, NFC first); Mistral Small 3's with mistral-common's instruct v7 tokenizer.
What trtllm-serve hands the template (content parts joined with a newline, tool-call
arguments parsed, tools as pydantic dumps with unset fields as null) is rewritten here too.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import pytest
from provocapi.vocab import source

from .client import post

TEMPLATES = Path(__file__).parent / "templates"


def _file(name: str) -> Path:
    src = source(name)
    assert src is not None, f"built-in tokenizer {name} is not installed (scripts/setup)"
    return src[0]


# --- the conversations -----------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
CLOCK = {
    "type": "function",
    "function": {"name": "now", "parameters": {"type": "object", "properties": {}}, "strict": True},
}
CALL = {
    "id": "abcDEF123",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Zürich", "unit": "celsius"}'},
}
CALL_2 = {
    "id": "xyzUVW789",
    "type": "function",
    # quotes, a backslash and a newline: JSON writes them unlike Python's str()
    "function": {"name": "get_weather", "arguments": '{"city": "\\"Bern\\"\\\\\\n", "days": 2}'},
}
MULTILINGUAL = (
    "Wie spät ist es in Zürich? 東京の天気はどうですか。Привет, как дела? "
    "مرحبا بالعالم 👋🏽 naïve Cafe\u0301 — ½ ≠ 0.5\tTabs\n\nand  spaces   "
)
LOOKALIKES = (
    "Ignore <|eot_id|> and <|start_header_id|>user<|end_header_id|>, <|im_start|>system "
    "<|im_end|> [INST] fake [/INST] <s></s> [TOOL_CALLS] <tool_call>{}</tool_call> "
    "<|begin_of_text|> <|endoftext|>"
)

CONVERSATIONS: dict[str, dict[str, Any]] = {
    "plain": {"messages": [{"role": "user", "content": "Hello! How are you today?"}]},
    "system_multi_turn": {
        "messages": [
            {"role": "system", "content": "  You are terse. Answer in one word.  "},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Japan?\n"},
            {"role": "assistant", "content": "Tokyo."},
            {"role": "user", "content": "Thanks. One more: Italy?"},
        ]
    },
    "content_parts": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "First part."},
                    {"type": "text", "text": "Second part."},
                ],
            }
        ]
    },
    "tools_defined": {
        "messages": [
            {"role": "system", "content": "You help with the weather."},
            {"role": "user", "content": "What's the weather in Zürich?"},
        ],
        "tools": [WEATHER, CLOCK],
    },
    "tool_call_and_result": {
        "messages": [
            {"role": "user", "content": "Weather in Zürich, please."},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {
                "role": "tool",
                "tool_call_id": "abcDEF123",
                "content": '{"temp_c": 21, "sky": "clear"}',
            },
        ],
        "tools": [WEATHER],
    },
    "tool_round_then_user": {
        "messages": [
            {"role": "system", "content": "Use tools when useful."},
            {"role": "user", "content": "Weather in Zürich?"},
            {"role": "assistant", "content": "", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": "21 °C, clear sky"},
            {"role": "assistant", "content": "It is 21 °C and clear in Zürich."},
            {"role": "user", "content": "And what time is it there?"},
        ],
        "tools": [WEATHER, CLOCK],
    },
    "parallel_calls": {
        "messages": [
            {"role": "user", "content": "Weather in Zürich and in Bern?"},
            {"role": "assistant", "content": "Checking both.", "tool_calls": [CALL, CALL_2]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": "21 °C"},
            {"role": "tool", "tool_call_id": "xyzUVW789", "content": "17 °C, rain"},
        ],
        "tools": [WEATHER],
    },
    "multilingual": {
        "messages": [
            {"role": "system", "content": "Réponds en français. 日本語も可。"},
            {"role": "user", "content": MULTILINGUAL},
        ]
    },
    "special_lookalikes": {
        "messages": [
            {"role": "system", "content": "System says <|eot_id|> [SYSTEM_PROMPT]"},
            {"role": "user", "content": LOOKALIKES},
            {"role": "assistant", "content": "I see <|im_end|> and </s> in that."},
            {"role": "user", "content": "<tool_response>not really</tool_response> [/INST]"},
        ]
    },
}

FAMILIES = {
    "llama3": "llama-3.1-8b-instruct",
    "qwen2": "qwen-2.5-72b-instruct",
    "mistral": "mistral-small-3-24b",
}


# --- what trtllm-serve hands a Hugging Face template ------------------------------------------


def _arguments(raw: Any) -> Any:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def trtllm_conversation(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        content = m.get("content")
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        else:
            text = "\n".join(p["text"] for p in content if p.get("type") == "text" and p["text"])
        item: dict[str, Any] = {"role": m["role"], "content": text, "media": []}
        if m["role"] == "assistant" and m.get("tool_calls") is not None:
            item["tool_calls"] = [
                {
                    **c,
                    "function": {
                        **c["function"],
                        "arguments": _arguments(c["function"].get("arguments")),
                    },
                }
                for c in m["tool_calls"]
            ]
        if m["role"] == "tool" and "tool_call_id" in m:
            item["tool_call_id"] = m["tool_call_id"]
        out.append(item)
    return out


def trtllm_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    fields = ("name", "description", "parameters", "strict")
    return [
        {"type": t.get("type", "function"), "function": {k: t["function"].get(k) for k in fields}}
        for t in tools
    ]


def hf_environment() -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def render(template: str, body: dict[str, Any], bos: str) -> str:
    tpl = hf_environment().from_string((TEMPLATES / template).read_text())
    return str(
        tpl.render(
            messages=trtllm_conversation(body["messages"]),
            tools=trtllm_tools(body.get("tools")),
            add_generation_prompt=body.get("add_generation_prompt", True),
            bos_token=bos,
        )
    )


# --- reference tokenizers -------------------------------------------------------------------

QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen 2.5's added tokens (tokenizer_config.json's added_tokens_decoder), from id 151643 on.
QWEN_ADDED = (
    "<|endoftext|> <|im_start|> <|im_end|> <|object_ref_start|> <|object_ref_end|> "
    "<|box_start|> <|box_end|> <|quad_start|> <|quad_end|> <|vision_start|> <|vision_end|> "
    "<|vision_pad|> <|image_pad|> <|video_pad|> <tool_call> </tool_call> <|fim_prefix|> "
    "<|fim_middle|> <|fim_suffix|> <|fim_pad|> <|repo_name|> <|file_sep|>"
).split()


@pytest.fixture(scope="module")
def llama_ref() -> Any:
    import tokenizers

    return tokenizers.Tokenizer.from_file(str(_file("llama3")))


@pytest.fixture(scope="module")
def qwen_ref() -> Any:
    import tiktoken

    ranks = {}
    for line in _file("qwen2.5").read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        "qwen2.5",
        pat_str=QWEN_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={t: 151643 + i for i, t in enumerate(QWEN_ADDED)},
    )


@pytest.fixture(scope="module")
def mistral_ref(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import mistral_common  # noqa: F401
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    # The shipped Tekken file says v3; Mistral Small 3 is the same vocabulary under instruct v7.
    data = json.loads(_file("tekken").read_text())
    data["config"]["version"] = "v7"
    path = tmp_path_factory.mktemp("tekken") / "tekken_v7.json"
    path.write_text(json.dumps(data))
    return MistralTokenizer.from_file(str(path))


def qwen_count(enc: Any, text: str) -> int:
    return len(enc.encode(unicodedata.normalize("NFC", text), allowed_special="all"))


@pytest.fixture(scope="module")
def chat_reference(llama_ref: Any, qwen_ref: Any, mistral_ref: Any) -> Callable[[str, dict], int]:
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    def count(family: str, body: dict[str, Any]) -> int:
        if family == "llama3":
            text = render("llama31_instruct.jinja", body, "<|begin_of_text|>")
            return len(llama_ref.encode(text, add_special_tokens=False).ids)
        if family == "qwen2":
            return qwen_count(qwen_ref, render("qwen25_instruct.jinja", body, ""))
        req = ChatCompletionRequest.from_openai(body["messages"], tools=body.get("tools"))
        return len(mistral_ref.encode_chat_completion(req).tokens)

    return count


@pytest.fixture(scope="module")
def text_reference(llama_ref: Any, qwen_ref: Any, mistral_ref: Any) -> Callable[[str, str], int]:
    """A /v1/completions prompt: tokenized with the tokenizer's special tokens (BOS) added."""

    def count(family: str, prompt: str) -> int:
        if family == "llama3":
            return len(llama_ref.encode(prompt, add_special_tokens=True).ids)
        if family == "qwen2":
            return qwen_count(qwen_ref, prompt)
        tekken = mistral_ref.instruct_tokenizer.tokenizer
        return len(tekken.encode(prompt, bos=True, eos=False))

    return count


# --- the tests ------------------------------------------------------------------------------


# Llama 3.1's template refuses several calls in one message: no reference to compare with
CHAT_CASES = [
    (family, name)
    for family in sorted(FAMILIES)
    for name in sorted(CONVERSATIONS)
    if (family, name) != ("llama3", "parallel_calls")
]


@pytest.mark.parametrize(("family", "name"), CHAT_CASES)
async def test_chat_prompt_tokens_match_the_reference(
    sim, chat_reference, family: str, name: str
) -> None:
    model = FAMILIES[family]
    s = await sim("--model", model, "--family", family, "--output-tokens", "3")
    body = {"model": model, "max_tokens": 3, **CONVERSATIONS[name]}
    r = await post(s.port, "/v1/chat/completions", body)
    assert r.status == 200, r.body
    want = chat_reference(family, CONVERSATIONS[name])
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] == want
    assert usage["total_tokens"] == want + usage["completion_tokens"]
    # streamed, the usage chunk carries the same count
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**body, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert r.chunks()[-1]["usage"]["prompt_tokens"] == want


@pytest.mark.parametrize("family", sorted(FAMILIES))
async def test_completions_prompt_tokens_match_the_reference(
    sim, text_reference, family: str
) -> None:
    model = FAMILIES[family]
    s = await sim("--model", model, "--family", family, "--output-tokens", "3")
    prompts = ["Once upon a time", MULTILINGUAL, LOOKALIKES]
    for prompt in prompts:
        r = await post(s.port, "/v1/completions", {"model": model, "prompt": prompt})
        assert r.json()["usage"]["prompt_tokens"] == text_reference(family, prompt), prompt
    r = await post(s.port, "/v1/completions", {"model": model, "prompt": prompts})
    assert r.json()["usage"]["prompt_tokens"] == sum(text_reference(family, p) for p in prompts)
    # token ids count as they are; no BOS is added to them
    r = await post(s.port, "/v1/completions", {"model": model, "prompt": [[1, 2, 3], [4, 5]]})
    assert r.json()["usage"]["prompt_tokens"] == 5


async def test_add_special_tokens_moves_the_bos(sim, text_reference) -> None:
    s = await sim("--model", "llama-3.1-8b-instruct", "--family", "llama3", "--output-tokens", "3")
    base = {"model": "llama-3.1-8b-instruct", "prompt": "Once upon a time"}
    r = await post(s.port, "/v1/completions", {**base, "add_special_tokens": False})
    assert r.json()["usage"]["prompt_tokens"] == text_reference("llama3", "Once upon a time") - 1
    chat = {"model": "llama-3.1-8b-instruct", **CONVERSATIONS["plain"]}
    plain = (await post(s.port, "/v1/chat/completions", chat)).json()["usage"]["prompt_tokens"]
    extra = {**chat, "add_special_tokens": True}
    doubled = (await post(s.port, "/v1/chat/completions", extra)).json()["usage"]
    assert doubled["prompt_tokens"] == plain + 1  # a second BOS in front of the template's


async def test_without_a_tokenizer_the_estimate_stays(sim) -> None:
    counted = await sim("--model", "qwen-2.5-72b-instruct", "--family", "qwen2")
    estimated = await sim(
        "--model", "qwen-2.5-72b-instruct", "--family", "qwen2", "--tokenizer", "none"
    )
    assert counted.worker.counter is not None and estimated.worker.counter is None
    body = {"model": "qwen-2.5-72b-instruct", **CONVERSATIONS["plain"]}
    a = (await post(counted.port, "/v1/chat/completions", body)).json()["usage"]
    b = (await post(estimated.port, "/v1/chat/completions", body)).json()["usage"]
    # the default system message alone is 20 tokens: the estimate knows nothing of it
    assert a["prompt_tokens"] > 30 > b["prompt_tokens"]


@pytest.mark.parametrize("family", ["llama3", "qwen2"])
async def test_without_the_generation_prompt(sim, chat_reference, family: str) -> None:
    model = FAMILIES[family]
    s = await sim("--model", model, "--family", family, "--output-tokens", "3")
    conv = {**CONVERSATIONS["system_multi_turn"], "add_generation_prompt": False}
    r = await post(s.port, "/v1/chat/completions", {"model": model, **conv})
    with_prompt = chat_reference(family, CONVERSATIONS["system_multi_turn"])
    assert r.json()["usage"]["prompt_tokens"] == chat_reference(family, conv) < with_prompt
