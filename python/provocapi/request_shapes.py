"""The free-form parts of a request that later code reads, checked once at decode.

`messages` items are open objects (clients add fields the workers may know), so
msgspec cannot type them; what the gateway itself reads from them (role,
content, name, tool calls) is checked here, each failure a 400 naming the
parameter (`messages[2].role`). Completions' `prompt` gets the same treatment;
`input` is checked by the embedding policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import whole_numbers
from .error_catalog import UNSUPPORTED_CONTENT, empty_array, invalid
from .errors import ApiError, quote
from .schemas import ChatRequest, CompletionRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# roles whose {"role", "content"} alone is a whole message (a tool result needs its call's id)
_PLAIN_ROLES = ROLES - {"tool"}
# roles OpenAI requires a non-null content of (an assistant may send only tool_calls; a
# legacy function result may be null); the worker would render an empty turn instead
_CONTENT_REQUIRED = frozenset({"system", "developer", "user", "tool"})


def check(req: object) -> None:
    if type(req) is ChatRequest:
        check_messages(req.messages)
    elif type(req) is CompletionRequest:
        check_prompt(req.prompt)


def _wrong_type(param: str, expected: str) -> ApiError:
    return invalid(
        f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
    )


def _optional_str(m: dict[str, Any], key: str, where: str) -> None:
    value = m.get(key)
    if value is not None and type(value) is not str:
        raise _wrong_type(f"{where}.{key}", "a string")


def check_messages(messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise invalid("'messages' must contain at least one message.", param="messages")
    for i, m in enumerate(messages):
        role = m.get("role")
        if (
            type(role) is str
            and len(m) == 2
            and type(m.get("content")) is str
            and role in _PLAIN_ROLES
        ):
            continue  # the usual message, {"role", "content": "..."}: nothing more to look at
        _check_message(m, f"messages[{i}]")


def _check_message(m: dict[str, Any], where: str) -> None:
    role = m.get("role")
    if role is None:
        raise invalid(f"Missing required parameter: '{where}.role'.",
                      param=f"{where}.role", code="missing_required_parameter")  # fmt: skip
    if type(role) is not str:
        raise _wrong_type(f"{where}.role", f"one of {sorted(ROLES)}")
    if role not in ROLES:
        raise invalid(
            f"Invalid value for '{where}.role': '{quote(role)}'; expected one of {sorted(ROLES)}.",
            param=f"{where}.role",
        )
    content = m.get("content")
    if type(content) is not str and content is not None:
        _content_parts(content, f"{where}.content")
    _optional_str(m, "name", where)
    _optional_str(m, "tool_call_id", where)
    if role == "tool" and m.get("tool_call_id") is None:
        # OpenAI refuses it too; a worker would render a result paired with no call
        # (Mistral's template raises on it: a 400 from the worker instead of ours)
        raise invalid(
            "Missing parameter 'tool_call_id': messages with role 'tool' must have a "
            "'tool_call_id'.",
            param=f"{where}.tool_call_id",
            code="missing_required_parameter",
        )
    if content is None and role in _CONTENT_REQUIRED:
        _no_content(m, f"{where}.content")
    calls = m.get("tool_calls")
    if calls is not None:
        _tool_calls(calls, f"{where}.tool_calls")


def _no_content(m: dict[str, Any], param: str) -> None:
    if "content" not in m:
        raise invalid(f"Missing required parameter: '{param}'.", param=param,
                      code="missing_required_parameter")  # fmt: skip
    raise _wrong_type(param, "a string or an array of content parts, but got null")


# Why each non-text part is refused (the migration guide's list); any other type too.
_NOT_READ = {
    "image_url": "the models served here do not take image inputs (vision)",
    "input_audio": "the models served here do not take audio inputs",
    "file": "the models served here do not take file inputs",
    "refusal": "a refusal part cannot be rendered into the model's prompt",
}


def _content_parts(content: object, where: str) -> None:
    if type(content) is not list:
        raise _wrong_type(where, "a string or an array of content parts")
    if not content:  # the spec's minItems: 1 (a worker would render an empty turn)
        raise empty_array(where)
    for j, part in enumerate(content):
        if type(part) is not dict or type(part.get("type")) is not str:
            raise _wrong_type(f"{where}[{j}]", "an object with a string 'type'")
        kind = part["type"]
        if kind != "text":
            # a worker would render only the text: the rest must not vanish unseen
            why = _NOT_READ.get(kind, "only text parts are read")
            raise UNSUPPORTED_CONTENT.build(kind=quote(kind), why=why, param=f"{where}[{j}].type")
        if type(part.get("text")) is not str:
            raise _wrong_type(f"{where}[{j}].text", "a string")


def _tool_calls(calls: object, where: str) -> None:
    if type(calls) is not list:
        raise _wrong_type(where, "an array of tool calls")
    if not calls:  # OpenAI refuses it with this 400 (a worker template may raise instead)
        raise empty_array(where)
    for j, call in enumerate(calls):
        at = f"{where}[{j}]"
        if type(call) is not dict:
            raise _wrong_type(at, "an object")
        _optional_str(call, "id", at)
        _optional_str(call, "type", at)
        fn = call.get("function")
        if type(fn) is not dict:
            raise _wrong_type(f"{at}.function", "an object with a string 'name'")
        if type(fn.get("name")) is not str:
            raise _wrong_type(f"{at}.function.name", "a string")
        args = fn.get("arguments")
        if args is not None and type(args) is not str and type(args) is not dict:
            raise _wrong_type(f"{at}.function.arguments", "a string of JSON")


def token_lists(values: list[Any]) -> bool:
    """Token ids or arrays of them, whole floats (`7.0`) turned into ints in place."""
    if all(type(x) is int for x in values):
        return True
    if all(type(x) is list for x in values):
        lists = [whole_numbers.int_list(x) for x in values]
        if all(x is not None for x in lists):
            values[:] = lists
            return True
        return False
    ids = whole_numbers.int_list(values)
    if ids is None:
        return False
    values[:] = ids
    return True


def token_arrays(values: list[Any], param: str) -> Iterator[tuple[str, list[int]]]:
    """Each array of token ids in `values` (one, or an array of them, as `token_lists`
    took it), with the parameter that names it: `param` or `param[i]`."""
    if type(values[0]) is not list:
        yield param, values
        return
    for i, ids in enumerate(values):
        yield f"{param}[{i}]", ids


def token_ids_checked(values: list[Any], param: str) -> None:
    """After `token_lists` took `values`: as OpenAI, each array of token ids holds at
    least one, and no id is negative (a worker would index its embedding table with it)."""
    for where, ids in token_arrays(values, param):
        if not ids:
            raise invalid(f"Invalid '{where}': empty array of token ids.", param=where)
        low = min(ids)
        if low < 0:
            raise invalid(
                f"Invalid '{where}': token ids are never negative; got {low}.", param=where
            )


def check_prompt(prompt: str | list[Any]) -> None:
    """A string, or an array of strings, of token ids, or of arrays of token ids."""
    if isinstance(prompt, str):
        return
    if not prompt:
        raise invalid("'prompt' must not be empty.", param="prompt")
    if all(type(x) is str for x in prompt):
        return
    if token_lists(prompt):
        token_ids_checked(prompt, "prompt")
        return
    raise _wrong_type(
        "prompt",
        "a string, an array of strings, an array of token ids or an array of arrays of token ids",
    )
