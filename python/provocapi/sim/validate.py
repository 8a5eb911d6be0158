"""Request validation the way trtllm-serve's pydantic models do it, loosely.

A failure is FastAPI's RequestValidationError, which trtllm-serve answers with 400 and
``{"error": str(exc)}``: the repr of pydantic's error list, e.g.
``[{'type': 'extra_forbidden', 'loc': ('body', 'foo'), 'msg': 'Extra inputs are not
permitted', 'input': 1}]``. Types are checked in pydantic's lax mode, roughly.
"""

from __future__ import annotations

import os
from typing import Any

from .. import lora_files
from .. import trtllm_protocol as P

Error = dict[str, Any]


class RequestInvalid(Exception):
    def __init__(self, errors: list[Error]) -> None:
        super().__init__(errors)
        self.errors = errors

    def __str__(self) -> str:
        return repr(self.errors)


def _err(kind: str, loc: tuple[Any, ...], msg: str, value: Any, ctx: Any = None) -> Error:
    e: Error = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        e["ctx"] = ctx
    return e


def _value_error(loc: tuple[Any, ...], message: str, value: Any) -> Error:
    return _err(
        "value_error", loc, "Value error, " + message, value, {"error": ValueError(message)}
    )


_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _check_int(v: Any, loc: tuple[Any, ...]) -> Error | None:
    if isinstance(v, int):
        return None
    if isinstance(v, float):
        if v.is_integer():
            return None
        return _err(
            "int_from_float",
            loc,
            "Input should be a valid integer, got a number with a fractional part",
            v,
        )
    if isinstance(v, str):
        try:
            int(v.strip())
            return None
        except ValueError:
            return _err(
                "int_parsing",
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
                v,
            )
    return _err("int_type", loc, "Input should be a valid integer", v)


def _check_float(v: Any, loc: tuple[Any, ...]) -> Error | None:
    if isinstance(v, (int, float)):
        return None
    if isinstance(v, str):
        try:
            float(v.strip())
            return None
        except ValueError:
            return _err(
                "float_parsing",
                loc,
                "Input should be a valid number, unable to parse string as a number",
                v,
            )
    return _err("float_type", loc, "Input should be a valid number", v)


def _check_bool(v: Any, loc: tuple[Any, ...]) -> Error | None:
    if isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)):
        return None
    if isinstance(v, str) and v.lower() in _TRUE | _FALSE:
        return None
    if isinstance(v, str):
        return _err(
            "bool_parsing", loc, "Input should be a valid boolean, unable to interpret input", v
        )
    return _err("bool_type", loc, "Input should be a valid boolean", v)


def _check_str(v: Any, loc: tuple[Any, ...]) -> Error | None:
    if isinstance(v, str):
        return None
    return _err("string_type", loc, "Input should be a valid string", v)


def _check_dict(v: Any, loc: tuple[Any, ...]) -> Error | None:
    if isinstance(v, dict):
        return None
    return _err("dict_type", loc, "Input should be a valid dictionary", v)


_SHARED_INT = frozenset(
    {
        "n",
        "seed",
        "prompt_ignore_length",
        "best_of",
        "top_k",
        "min_tokens",
        "truncate_prompt_tokens",
        "thinking_token_budget",
    }
)
_SHARED_FLOAT = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "temperature",
        "top_p",
        "top_p_min",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "priority",
    }
)
_SHARED_BOOL = frozenset(
    {
        "stream",
        "use_beam_search",
        "include_stop_str_in_output",
        "ignore_eos",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "echo",
        "add_special_tokens",
    }
)
# Declared without Optional: null is a type error for these.
_SHARED_NOT_NULL = frozenset(
    {
        "model",
        "n",
        "use_beam_search",
        "top_k",
        "top_p_min",
        "min_p",
        "repetition_penalty",
        "include_stop_str_in_output",
        "ignore_eos",
        "min_tokens",
        "skip_special_tokens",
        "spaces_between_special_tokens",
        "echo",
        "add_special_tokens",
    }
)

_CHAT_TYPES: dict[str, Any] = {
    **dict.fromkeys(
        _SHARED_INT | {"top_logprobs", "max_completion_tokens", "max_tokens"}, _check_int
    ),
    **dict.fromkeys(_SHARED_FLOAT, _check_float),
    **dict.fromkeys(
        _SHARED_BOOL | {"logprobs", "parallel_tool_calls", "add_generation_prompt"}, _check_bool
    ),
    **dict.fromkeys(
        {"model", "user", "chat_template", "cache_salt", "prompt_token_ids_b64"}, _check_str
    ),
    **dict.fromkeys(
        {"logit_bias", "chat_template_kwargs", "mm_processor_kwargs", "media_io_kwargs"},
        _check_dict,
    ),
}
_CHAT_NOT_NULL = _SHARED_NOT_NULL | {"messages", "add_generation_prompt"}

_COMPLETION_TYPES: dict[str, Any] = {
    **dict.fromkeys(_SHARED_INT | {"logprobs", "max_tokens"}, _check_int),
    **dict.fromkeys(_SHARED_FLOAT, _check_float),
    **dict.fromkeys(_SHARED_BOOL | {"return_context_logits", "detokenize"}, _check_bool),
    **dict.fromkeys({"model", "user", "suffix"}, _check_str),
    **dict.fromkeys({"logit_bias"}, _check_dict),
}
_COMPLETION_NOT_NULL = _SHARED_NOT_NULL | {"prompt", "return_context_logits", "detokenize"}


def _extra(obj: dict[str, Any], allowed: frozenset[str], loc: tuple[Any, ...]) -> list[Error]:
    return [
        _err("extra_forbidden", (*loc, k), "Extra inputs are not permitted", v)
        for k, v in obj.items()
        if k not in allowed
    ]


def _nested(name: str, v: Any) -> list[Error]:
    """Checks for the nested-object fields whose models forbid extra keys."""
    loc: tuple[Any, ...] = ("body", name)
    if name == "tools":
        if not isinstance(v, list):
            return [_err("list_type", loc, "Input should be a valid list", v)]
        errors: list[Error] = []
        for i, tool in enumerate(v):
            if not isinstance(tool, dict):
                errors.append(
                    _err(
                        "model_type",
                        (*loc, i),
                        "Input should be a valid dictionary "
                        "or instance of ChatCompletionToolsParam",
                        tool,
                    )
                )
                continue
            errors += _extra(tool, P.TOOL_FIELDS, (*loc, i))
            fn = tool.get("function")
            if not isinstance(fn, dict):
                errors.append(
                    _err("missing", (*loc, i, "function"), "Field required", tool)
                    if fn is None
                    else _err(
                        "model_type",
                        (*loc, i, "function"),
                        "Input should be a valid dictionary or instance of FunctionDefinition",
                        fn,
                    )
                )
                continue
            if "name" not in fn:
                errors.append(_err("missing", (*loc, i, "function", "name"), "Field required", fn))
            errors += _extra(fn, P.FUNCTION_DEFINITION_FIELDS, (*loc, i, "function"))
        return errors
    if name == "tool_choice":
        if isinstance(v, str):
            if v in P.TOOL_CHOICE_LITERALS:
                return []
            return [
                _err(
                    "literal_error",
                    (*loc, "literal['none','auto','required']"),
                    "Input should be 'none', 'auto' or 'required'",
                    v,
                )
            ]
        if not isinstance(v, dict):
            return [
                _err(
                    "model_type",
                    (*loc, "ChatCompletionNamedToolChoiceParam"),
                    "Input should be a valid dictionary or instance of "
                    "ChatCompletionNamedToolChoiceParam",
                    v,
                )
            ]
        errors = _extra(v, P.NAMED_TOOL_CHOICE_FIELDS, loc)
        fn = v.get("function")
        if not isinstance(fn, dict) or "name" not in fn:
            errors.append(_err("missing", (*loc, "function", "name"), "Field required", fn))
        else:
            errors += _extra(fn, P.NAMED_FUNCTION_FIELDS, (*loc, "function"))
        return errors
    if name == "lora_request":
        return _lora(v)
    if not isinstance(v, dict):
        return [_err("model_type", loc, "Input should be a valid dictionary or object", v)]
    errors = _extra(v, P.NESTED_OBJECT_FIELDS[name], loc)
    if name == "response_format":
        kind = v.get("type")
        if kind is None:
            errors.append(_err("missing", (*loc, "type"), "Field required", v))
        elif not isinstance(kind, str) or kind not in P.RESPONSE_FORMAT_TYPES:
            expected = (
                "'text', 'json', 'json_schema', 'json_object', 'regex', 'ebnf' or 'structural_tag'"
            )
            errors.append(
                _err(
                    "literal_error",
                    (*loc, "type"),
                    f"Input should be {expected}",
                    kind,
                    {"expected": expected},
                )
            )
    return errors


def _lora(v: Any) -> list[Error]:
    """LoRARequest is a dataclass whose __post_init__ insists the path exists here."""
    loc: tuple[Any, ...] = ("body", "lora_request")
    if not isinstance(v, dict):
        return [
            _err(
                "dataclass_type",
                loc,
                "Input should be a dictionary or an instance of LoRARequest",
                v,
                {"class_name": "LoRARequest"},
            )
        ]
    errors: list[Error] = []
    for field in ("lora_name", "lora_int_id"):
        if field not in v:
            errors.append(_err("missing", (*loc, field), "Field required", v))
    if "lora_name" in v and (e := _check_str(v["lora_name"], (*loc, "lora_name"))):
        errors.append(e)
    if "lora_int_id" in v and (e := _check_int(v["lora_int_id"], (*loc, "lora_int_id"))):
        errors.append(e)
    path = v.get("lora_path", "")
    if "lora_path" in v and (e := _check_str(path, (*loc, "lora_path"))):
        errors.append(e)
    if errors:
        return errors
    if path is not None and not os.path.exists(path):
        return [_value_error(loc, f"lora_path ({path}) does not exist.", v)]
    if path is not None:
        # what the worker's LoRA manager would load: both PEFT files, a sound header
        try:
            lora_files.check_directory(path)
        except (lora_files.AdapterFileError, OSError) as exc:
            return [_value_error(loc, f"lora_path ({path}) holds no loadable adapter: {exc}", v)]
    return []


def _fields(
    body: dict[str, Any],
    allowed: frozenset[str],
    types: dict[str, Any],
    not_null: frozenset[str],
    ok: dict[str, frozenset[type]],
) -> list[Error]:
    """The field errors in body order, then the extra keys'. ``ok``: per key, the types
    its check passes without a look (the common values cost one set lookup)."""
    errors: list[Error] = []
    extra: list[Error] = []
    for k, v in body.items():
        if v.__class__ in ok.get(k, _NO_TYPES):
            continue
        if k not in allowed:
            extra.append(_err("extra_forbidden", ("body", k), "Extra inputs are not permitted", v))
            continue
        loc = ("body", k)
        if v is None:
            if k in not_null:
                check = types.get(k)
                if check is not None and (e := check(v, loc)):
                    errors.append(e)
            continue
        check = types.get(k)
        if check is not None:
            if e := check(v, loc):
                errors.append(e)
        elif k in P.NESTED_OBJECT_FIELDS:
            errors += _nested(k, v)
        elif k == "stop" and not isinstance(v, str):
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                errors.append(
                    _err("string_type", (*loc, "str"), "Input should be a valid string", v)
                )
        elif k == "stop_token_ids" and not (
            isinstance(v, list) and all(isinstance(t, int) for t in v)
        ):
            errors.append(_err("list_type", loc, "Input should be a valid list", v))
    return errors + extra


_NO_TYPES: frozenset[type] = frozenset()
# The types each check passes whatever the value (see _check_*); bool is an int to pydantic's
# lax int and float, but only True/False (or 0/1, not listed) are booleans.
_PASSING = {
    _check_int: frozenset({int, bool}),
    _check_float: frozenset({int, float, bool}),
    _check_bool: frozenset({bool}),
    _check_str: frozenset({str}),
    _check_dict: frozenset({dict}),
}


def _ok_types(
    types: dict[str, Any], allowed: frozenset[str], unchecked: tuple[str, ...]
) -> dict[str, frozenset[type]]:
    ok = {k: _PASSING[check] for k, check in types.items() if k in allowed}
    for k in unchecked:  # allowed, any type passes _fields (checked elsewhere, if at all)
        ok[k] = frozenset({str, list, dict, int, float, bool})
    return ok


_CHAT_OK = _ok_types(_CHAT_TYPES, P.CHAT_COMPLETION_FIELDS, ("messages",))
_COMPLETION_OK = _ok_types(_COMPLETION_TYPES, P.COMPLETION_FIELDS, ("prompt",))


def _missing(body: dict[str, Any], required: tuple[str, ...]) -> list[Error]:
    return [_err("missing", ("body", k), "Field required", body) for k in required if k not in body]


def _object(body: Any) -> None:
    if not isinstance(body, dict):
        raise RequestInvalid(
            [
                _err(
                    "model_attributes_type",
                    ("body",),
                    "Input should be a valid dictionary or object to extract fields from",
                    body,
                )
            ]
        )


def chat(body: Any) -> None:
    _object(body)
    get = body.get
    # model_validator(mode="before") checks run first and stop validation.
    if get("stream_options") is not None and not get("stream"):
        raise RequestInvalid(
            [_value_error(("body",), "stream_options can only be set if stream is true", body)]
        )
    tools = get("tools")
    tool_choice = get("tool_choice", "auto" if tools else "none")
    if tool_choice not in ("none", "auto") and not tools:
        raise RequestInvalid(
            [_value_error(("body",), "When using `tool_choice`, `tools` must be set.", body)]
        )
    if get("top_logprobs") is not None and not get("logprobs"):
        raise RequestInvalid(
            [_value_error(("body",), "logprobs must be true when using top_logprobs", body)]
        )
    if get("suffix"):
        raise RequestInvalid([_value_error(("body",), "suffix is not supported", body)])
    errors = [] if "messages" in body and "model" in body else _missing(body, _CHAT_REQUIRED)
    errors += _fields(body, P.CHAT_COMPLETION_FIELDS, _CHAT_TYPES, _CHAT_NOT_NULL, _CHAT_OK)
    errors += _message_errors(get("messages"))
    if errors:
        raise RequestInvalid(errors)


_CHAT_REQUIRED = ("messages", "model")


def _message_errors(messages: Any) -> list[Error]:
    errors: list[Error] = []
    if messages is not None:
        if not isinstance(messages, list):
            errors.append(
                _err("list_type", ("body", "messages"), "Input should be a valid list", messages)
            )
        else:
            for i, m in enumerate(messages):
                if not isinstance(m, dict) or "role" not in m:
                    errors.append(
                        _err("missing", ("body", "messages", i, "role"), "Field required", m)
                    )
    return errors


def messages(body: dict[str, Any]) -> None:
    """chat() for a body with messages whose other fields passed chat() before (the same
    values in another body): chat() would find exactly these errors, nothing else."""
    if errors := _message_errors(body["messages"]):
        raise RequestInvalid(errors)


def completion(body: Any) -> None:
    _object(body)
    if body.get("stream_options") and not body.get("stream"):
        raise RequestInvalid(
            [
                _value_error(
                    ("body",), "Stream options can only be defined when stream is true.", body
                )
            ]
        )
    if body.get("suffix"):
        raise RequestInvalid([_value_error(("body",), "suffix is not supported", body)])
    errors = _missing(body, ("model", "prompt"))
    errors += _fields(
        body, P.COMPLETION_FIELDS, _COMPLETION_TYPES, _COMPLETION_NOT_NULL, _COMPLETION_OK
    )
    prompt = body.get("prompt")
    if "prompt" in body and not _prompt_ok(prompt):
        errors.append(
            _err("string_type", ("body", "prompt", "str"), "Input should be a valid string", prompt)
        )
    if errors:
        raise RequestInvalid(errors)


def _prompt_ok(prompt: Any) -> bool:
    if isinstance(prompt, str):
        return True
    if not isinstance(prompt, list):
        return False
    return (
        all(isinstance(p, str) for p in prompt)
        or all(isinstance(p, int) and not isinstance(p, bool) for p in prompt)
        or all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in prompt)
    )


def embedding(body: Any) -> None:
    _object(body)
    errors = _missing(body, ("model", "input"))
    for k, v in body.items():
        loc = ("body", k)
        if k == "model" and (e := _check_str(v, loc)):
            errors.append(e)
        elif k == "encoding_format" and (
            not isinstance(v, str) or v not in P.EMBEDDING_ENCODING_FORMATS
        ):
            errors.append(
                _err(
                    "literal_error",
                    loc,
                    "Input should be 'float' or 'base64'",
                    v,
                    {"expected": "'float' or 'base64'"},
                )
            )
        elif k == "dimensions" and v is not None:
            if e := _check_int(v, loc):
                errors.append(e)
            elif int(v) <= 0:
                errors.append(
                    _err("greater_than", loc, "Input should be greater than 0", v, {"gt": 0})
                )
        elif k == "input" and not _prompt_ok(v):
            errors.append(_err("string_type", (*loc, "str"), "Input should be a valid string", v))
    errors += _extra(body, P.EMBEDDING_FIELDS, ("body",))
    if errors:
        raise RequestInvalid(errors)


DEFAULT_PRIORITY = 0.5  # the engine's, for a request without one


def priority(body: dict[str, Any], supported: bool) -> None:
    """The `priority` field (``Optional[float]``, ``ge=0.0, le=1.0``). A worker older than
    the field refuses it as any unknown key (``--priority`` off)."""
    if "priority" not in body:
        return
    v = body["priority"]
    loc = ("body", "priority")
    if not supported:
        raise RequestInvalid([_err("extra_forbidden", loc, "Extra inputs are not permitted", v)])
    if v is None or _check_float(v, loc) is not None:
        return  # null is allowed; a bad type was already reported by chat()/completion()
    if float(v) < 0.0:
        msg = "Input should be greater than or equal to 0"
        raise RequestInvalid([_err("greater_than_equal", loc, msg, v, {"ge": 0.0})])
    if float(v) > 1.0:
        msg = "Input should be less than or equal to 1"
        raise RequestInvalid([_err("less_than_equal", loc, msg, v, {"le": 1.0})])


def priority_of(body: dict[str, Any]) -> float:
    """The scheduling priority a valid body asks for."""
    v = body.get("priority")
    if v is None or isinstance(v, bool) or _check_float(v, ("body",)) is not None:
        return DEFAULT_PRIORITY
    return min(max(float(v), 0.0), 1.0)
