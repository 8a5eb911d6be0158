"""Each family's chat prompt as the model's own template lays it out, for the usage count.

trtllm-serve renders a chat request with the model's Hugging Face chat template
(``tokenizer.apply_chat_template(conversation, add_generation_prompt=..., tools=[tool.model_dump()
for tool in request.tools])`` in ``openai_chat`` of ``tensorrt_llm/serve/openai_server.py``,
NVIDIA/TensorRT-LLM commit 00057725d9a6591f033e44f31c219e2426827bb7), after
``parse_chat_messages_coroutines`` (``tensorrt_llm/serve/chat_utils.py``, commit
0c3519021cca6f590804c75bdfa8245b8d2aaaf9) has turned each message into ``{role, content}``:
text parts joined with "\\n", a missing content "", ``tool_calls`` kept with their
``arguments`` parsed into an object when they are JSON, ``tool_call_id`` kept.

Written here in Python, on purpose apart from the gateway's own template code (the core's
``count_chat``): a prompt is a list of parts, special tokens as :class:`Special`, so a
vocabulary that does not read special tokens out of text (Tekken) still counts them as one.

- ``llama3``: Llama 3.1 instruct. BOS, a system turn with "Cutting Knowledge Date: December
  2023" and "Today Date: 26 Jul 2024" ("Environment: ipython" first when tools are given),
  system text trimmed; tools go into the first user turn as a JSON list of indented objects
  with a fixed preamble; an assistant call is ``{"name": ..., "parameters": ...}`` (one call
  per message); a tool result is an ``ipython`` turn whose text is written as a JSON string
  (the template's ``tojson`` of the content).
- ``qwen2``: Qwen 2.5 instruct (ChatML). Its default system message when none is given; tools
  as one JSON object per line inside ``<tools>``; calls as ``<tool_call>`` blocks; consecutive
  tool results share one ``user`` turn, each in ``<tool_response>``.
- ``mistral``: Mistral Small 3, instruct v7 with Tekken, as mistral-common encodes it (the
  reference Mistral publishes for its templates): consecutive user (and assistant) messages
  merged with a blank line, ``[SYSTEM_PROMPT]`` in place, ``[AVAILABLE_TOOLS]`` before the last
  user turn, ``[TOOL_CALLS]`` with the calls' JSON, ``[TOOL_RESULTS]id[TOOL_CONTENT]...``.

A request the template itself refuses (Llama: tools with no user turn, or several calls in one
message; Mistral: an empty assistant turn) raises :class:`Unrenderable`; the caller then
falls back to the estimate.
"""

from __future__ import annotations

import json
from typing import Any


class Special(str):
    """A special token of the template (counts as one token)."""

    __slots__ = ()


class Unrenderable(ValueError):
    pass


Parts = list[str]

LLAMA_TOOLS_PREAMBLE = (
    "Given the following functions, please respond with a JSON for a function call with its "
    "proper arguments that best answers the given prompt.\n\n"
    'Respond in the format {"name": function name, "parameters": dictionary of argument name '
    "and its value}.Do not use variables.\n\n"
)
LLAMA_HEAD = "\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
LLAMA_HEAD_TOOLS = "\n\nEnvironment: ipython\n" + LLAMA_HEAD[2:]
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
QWEN_TOOLS_HEAD = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
QWEN_TOOLS_TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)

BOT, SH, EH, EOT = (
    Special("<|begin_of_text|>"),
    Special("<|start_header_id|>"),
    Special("<|end_header_id|>"),
    Special("<|eot_id|>"),
)
IM_START, IM_END = Special("<|im_start|>"), Special("<|im_end|>")


def tojson(value: Any, indent: int | None = None) -> str:
    """Hugging Face's ``tojson`` for chat templates: no ASCII escaping, keys in order."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


# --- what trtllm-serve hands the template -------------------------------------------------


def _text(content: Any, join: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                if isinstance(part.get("text"), str) and part["text"]:
                    texts.append(part["text"])
        return join.join(texts)
    return ""


def _arguments(raw: Any) -> Any:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # trtllm keeps text that is not JSON as it is
    return raw


def conversation(messages: list[Any]) -> list[dict[str, Any]]:
    """trtllm-serve's view of the messages (chat_utils.parse_chat_message_content)."""
    conv: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, dict):
            raise Unrenderable("message is not an object")
        role = m.get("role")
        content = m.get("content")
        if content.__class__ is not str:  # mostly it is: no call
            content = _text(content, "\n")
        msg: dict[str, Any] = {"role": role, "content": content}
        calls = m.get("tool_calls")
        if role == "assistant" and calls is not None:
            msg["tool_calls"] = [
                {
                    **c,
                    "function": {
                        **(c.get("function") or {}),
                        "arguments": _arguments((c.get("function") or {}).get("arguments")),
                    },
                }
                for c in calls
                if isinstance(c, dict)
            ]
        conv.append(msg)
    return conv


def tool_dicts(tools: Any) -> list[dict[str, Any]] | None:
    """``tool.model_dump()`` of trtllm's ChatCompletionToolsParam: unset fields as None."""
    if tools is None:
        return None
    out = []
    for t in tools:
        fn = t.get("function") or {}
        out.append(
            {
                "type": t.get("type", "function"),
                "function": {
                    "name": fn.get("name"),
                    "description": fn.get("description"),
                    "parameters": fn.get("parameters"),
                    "strict": fn.get("strict"),
                },
            }
        )
    return out


# --- Llama 3.1 ------------------------------------------------------------------------------


def llama3(body: dict[str, Any]) -> Parts:
    msgs = conversation(body.get("messages") or [])
    tools = tool_dicts(body.get("tools"))
    system = ""
    if msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0]["content"].strip(), msgs[1:]
    head = LLAMA_HEAD_TOOLS if tools is not None else LLAMA_HEAD
    out: Parts = [BOT, SH, "system", EH, head + system, EOT]
    if tools is not None:
        if not msgs:
            raise Unrenderable("tools need a first user message")
        first, msgs = msgs[0]["content"].strip(), msgs[1:]
        text = "\n\n" + LLAMA_TOOLS_PREAMBLE
        text += "".join(tojson(t, indent=4) + "\n\n" for t in tools)
        out += [SH, "user", EH, text + first, EOT]
    for m in msgs:
        role = m["role"]
        if role in ("tool", "ipython"):
            out += [SH, "ipython", EH, "\n\n" + tojson(m["content"]), EOT]
        elif "tool_calls" in m:
            if len(m["tool_calls"]) != 1:
                raise Unrenderable("Llama 3.1 takes one tool call per message")
            fn = m["tool_calls"][0]["function"]
            call = f'{{"name": "{fn.get("name")}", "parameters": {tojson(fn["arguments"])}}}'
            out += [SH, "assistant", EH, "\n\n" + call, EOT]
        else:
            out += [SH, str(role), EH, "\n\n" + m["content"].strip(), EOT]
    if body.get("add_generation_prompt", True):
        out += [SH, "assistant", EH, "\n\n"]
    return out


# --- Qwen 2.5 -------------------------------------------------------------------------------


def qwen2(body: dict[str, Any]) -> Parts:
    msgs = conversation(body.get("messages") or [])
    tools = tool_dicts(body.get("tools"))
    has_system = bool(msgs) and msgs[0]["role"] == "system"
    system = msgs[0]["content"] if has_system else QWEN_DEFAULT_SYSTEM
    if tools:
        system += QWEN_TOOLS_HEAD + "".join("\n" + tojson(t) for t in tools) + QWEN_TOOLS_TAIL
    out: Parts = [IM_START, "system\n" + system, IM_END, "\n"]
    last = len(msgs) - 1
    for i, m in enumerate(msgs):
        role = m["role"]
        calls = m.get("tool_calls")
        if role == "user" or (role == "system" and i > 0) or (role == "assistant" and not calls):
            out += [IM_START, f"{role}\n{m['content']}", IM_END, "\n"]
        elif role == "assistant":
            text = "assistant" + ("\n" + m["content"] if m["content"] else "")
            for c in calls or ():
                fn = c.get("function", c)
                text += f'\n<tool_call>\n{{"name": "{fn.get("name")}", "arguments": '
                text += tojson(fn.get("arguments")) + "}\n</tool_call>"
            out += [IM_START, text, IM_END, "\n"]
        elif role == "tool":
            if i == 0 or msgs[i - 1]["role"] != "tool":
                out += [IM_START, "user"]
            out.append(f"\n<tool_response>\n{m['content']}\n</tool_response>")
            if i == last or msgs[i + 1]["role"] != "tool":
                out += [IM_END, "\n"]
    if body.get("add_generation_prompt", True):
        out += [IM_START, "assistant\n"]
    return out


# --- Mistral Small 3 (instruct v7) ------------------------------------------------------------

BOS, EOS = Special("<s>"), Special("</s>")
INST, END_INST = Special("[INST]"), Special("[/INST]")
SYS, END_SYS = Special("[SYSTEM_PROMPT]"), Special("[/SYSTEM_PROMPT]")
TOOLS, END_TOOLS = Special("[AVAILABLE_TOOLS]"), Special("[/AVAILABLE_TOOLS]")
CALLS = Special("[TOOL_CALLS]")
RESULTS, CONTENT, END_RESULTS = (
    Special("[TOOL_RESULTS]"),
    Special("[TOOL_CONTENT]"),
    Special("[/TOOL_RESULTS]"),
)


def _merged(contents: list[Any]) -> str:
    # Texts of neighbouring messages (and parts of one message) joined by a blank line,
    # empty ones skipped.
    texts = [t for t in (_text(c, "\n\n") for c in contents) if t]
    return "\n\n".join(texts)


def _mistral_call(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    raw = fn.get("arguments")
    args: Any = "{}" if raw is None or raw == "" else raw
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    out = {"name": fn.get("name"), "arguments": args}
    if call.get("id") and call["id"] != "null":
        out["id"] = call["id"]
    return out


def _mistral_groups(messages: list[Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    for m in messages:
        if not isinstance(m, dict):
            raise Unrenderable("message is not an object")
        role = str(m.get("role"))
        if groups and groups[-1][0] == role and role in ("user", "assistant"):
            groups[-1][1].append(m)
        else:
            groups.append((role, [m]))
    return groups


def mistral(body: dict[str, Any]) -> Parts:
    groups = _mistral_groups(body.get("messages") or [])
    if not groups:
        groups = [("user", [{"content": ""}])]
    tools = body.get("tools")
    last_user = max((i for i, (role, _) in enumerate(groups) if role == "user"), default=-1)
    out: Parts = [BOS]
    for i, (role, ms) in enumerate(groups):
        if role == "user":
            if i == last_user and tools:
                listed = [
                    {
                        "type": t.get("type", "function"),
                        "function": {
                            "name": (t.get("function") or {}).get("name"),
                            "description": (t.get("function") or {}).get("description") or "",
                            "parameters": (t.get("function") or {}).get("parameters") or {},
                        },
                    }
                    for t in tools
                ]
                out += [TOOLS, tojson(listed), END_TOOLS]
            out += [INST, _merged([m.get("content") for m in ms]), END_INST]
        elif role == "assistant":
            text = _merged([m.get("content") for m in ms]).rstrip(" ")
            calls = [_mistral_call(c) for m in ms for c in (m.get("tool_calls") or ())]
            if not text and not calls:
                raise Unrenderable("assistant message without content or calls")
            out.append(text)
            if calls:
                out += [CALLS, tojson(calls)]
            out.append(EOS)
        elif role == "tool":
            m = ms[0]
            out += [RESULTS, str(m.get("tool_call_id") or ""), CONTENT]
            out += [_text(m.get("content"), "\n\n"), END_RESULTS]
        elif role == "system":
            out += [SYS, _text(ms[0].get("content"), "\n\n"), END_SYS]
        else:
            raise Unrenderable(f"role {role!r}")
    return out


RENDER = {"llama3": llama3, "qwen2": qwen2, "mistral": mistral}


# --- plain conversations, straight to runs ----------------------------------------------------
#
# What the counter needs of a prompt is its runs: the texts between special tokens (joined),
# and how many special tokens. For the common request (no tools, every message a dict with a
# string role and string content, no tool calls) these functions give the runs of the
# renderers above in one pass; for anything else they give None and the renderer runs.
# tests/sim/test_prompt_runs.py holds them to the renderers.

Runs = tuple[int, list[str]]


def _plain(m: Any, skip: tuple[str, ...]) -> tuple[str, str] | None:
    """(role, content) of a plain message; None if it is not one."""
    if m.__class__ is not dict:
        return None
    role = m.get("role")
    content = m.get("content")
    if role.__class__ is not str or content.__class__ is not str or role in skip:
        return None
    if role == "assistant" and m.get("tool_calls") is not None:
        return None
    return role, content


def _plain_messages(body: dict[str, Any]) -> list[Any] | None:
    """The messages of a body without tools; None: the renderer's to handle."""
    msgs = body.get("messages") or []
    if body.get("tools") is not None or msgs.__class__ is not list:
        return None
    return msgs  # type: ignore[no-any-return]


def llama3_runs(body: dict[str, Any]) -> Runs | None:
    msgs = _plain_messages(body)
    if msgs is None:
        return None
    texts = ["system", ""]  # the second: the system turn, set below
    specials = 4  # BOT, then the system turn's SH, EH, EOT
    system = ""
    for i, m in enumerate(msgs):
        plain = _plain(m, ("tool", "ipython"))
        if plain is None:
            return None
        role, content = plain
        if i == 0 and role == "system":
            system = content.strip()
            continue
        texts += (role, "\n\n" + content.strip())
        specials += 3
    texts[1] = LLAMA_HEAD + system
    if body.get("add_generation_prompt", True):
        texts += ("assistant", "\n\n")
        specials += 2
    return specials, texts


def qwen2_runs(body: dict[str, Any]) -> Runs | None:
    msgs = _plain_messages(body)
    if msgs is None:
        return None
    texts = ["", "\n"]  # the first: the system turn, set below
    specials = 2
    system = QWEN_DEFAULT_SYSTEM
    for i, m in enumerate(msgs):
        plain = _plain(m, ())
        if plain is None:
            return None
        role, content = plain
        if role == "system" and i == 0:
            system = content
        elif role in ("user", "system", "assistant"):
            texts += (f"{role}\n{content}", "\n")
            specials += 2
        else:
            return None  # tool results and unknown roles: the renderer
    texts[0] = "system\n" + system
    if body.get("add_generation_prompt", True):
        texts.append("assistant\n")
        specials += 1
    return specials, texts


RUNS = {"llama3": llama3_runs, "qwen2": qwen2_runs}

# What Mistral's chat template raises (`raise_exception`) while rendering a history
# whose tool-call ids are not 9 alphanumerics (mistral-common checks ^[a-zA-Z0-9]{9}$).
MISTRAL_ID_ERROR = "Tool call IDs should be alphanumeric strings with length 9!"


def _mistral_id_ok(value: object) -> bool:
    return isinstance(value, str) and len(value) == 9 and value.isascii() and value.isalnum()


def template_error(family: str, messages: list[Any]) -> str | None:
    """The exception the family's template raises on these messages, if any.

    trtllm-serve renders the template inside the handler, so a raise there is its
    flat 400 with the exception's text; only Mistral's tool-call id check is applied.
    """
    if family != "mistral":
        return None
    for m in messages:
        if not isinstance(m, dict):
            continue
        if m.get("role") == "tool" and not _mistral_id_ok(m.get("tool_call_id")):
            return MISTRAL_ID_ERROR
        calls = m.get("tool_calls")
        if m.get("role") == "assistant" and isinstance(calls, list):
            for c in calls:
                if isinstance(c, dict) and not _mistral_id_ok(c.get("id")):
                    return MISTRAL_ID_ERROR
    return None
