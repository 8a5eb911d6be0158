"""Probes of chat completions' core and sampling edges: plain, streamed, include_usage,
JSON modes, logprobs, seed, n, stop, max_tokens, an image part, an unknown field."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from . import assemble, schema
from .context import PROMPT, Ctx, solid_png, stream_not_ok
from .verdicts import BROKEN, IGNORED, WORKS, Outcome, envelope, not_ok, short, unmeasured


def message_of(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """choices[0].message, or the reason the body is not a chat completion."""
    choices = body.get("choices")
    if body.get("object") != "chat.completion":
        return None, f"object is {body.get('object')!r}, not 'chat.completion'"
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, "no choices"
    msg = choices[0].get("message")
    if not isinstance(msg, dict) or msg.get("role") != "assistant":
        return None, "choices[0].message is not an assistant message"
    if msg.get("content") is not None and not isinstance(msg.get("content"), str):
        return None, "message.content is neither a string nor null"
    usage = body.get("usage")
    if not isinstance(usage, dict) or not all(
        isinstance(usage.get(k), int) for k in ("prompt_tokens", "completion_tokens")
    ):
        return None, "usage lacks integer prompt_tokens / completion_tokens"
    return msg, None


def chat_answer(
    probe: str, ctx: Ctx, extra: dict[str, Any], names: tuple[str, ...], content: Any = PROMPT
) -> tuple[Outcome | None, dict[str, Any], dict[str, Any]]:
    """(a verdict already reached, body, message) for one non-streamed request."""
    reply = ctx.chat(extra, content)
    if out := not_ok(probe, reply, names):
        return out, {}, {}
    body = reply.json()
    msg, problem = message_of(body)
    if problem or msg is None:
        return Outcome(probe, BROKEN, problem or "no message"), body, {}
    return None, body, msg


def chat(ctx: Ctx) -> Outcome:
    out, body, msg = chat_answer("chat", ctx, {}, ())
    if out:
        return out
    u = body["usage"]
    text = msg.get("content") or ""
    if not text:
        return Outcome("chat", BROKEN, "200 with empty content")
    return Outcome(
        "chat", WORKS, f"{len(text)} chars, usage {u['prompt_tokens']}+{u['completion_tokens']}"
    )


def chat_stream(ctx: Ctx) -> Outcome:
    s = ctx.stream({})
    if s.status == 200 and s.body:
        return Outcome("chat_stream", IGNORED, "stream: true answered with one JSON body")
    if out := stream_not_ok("chat_stream", s, ("stream",)):
        return out
    a = assemble.chat_stream(s.events)
    if a.problems:
        return Outcome("chat_stream", BROKEN, a.problems[0])
    if not a.text:
        return Outcome("chat_stream", BROKEN, "the stream carried no content")
    ttft = f"{s.ttft_s * 1000:.0f} ms" if s.ttft_s is not None else "?"
    return Outcome("chat_stream", WORKS, f"{len(s.events)} chunks, first token after {ttft}")


def include_usage(ctx: Ctx) -> Outcome:
    s = ctx.stream({"stream_options": {"include_usage": True}})
    names = ("stream_options", "include_usage")
    if out := stream_not_ok("include_usage", s, names):
        return out
    a = assemble.chat_stream(s.events)
    if a.problems:
        return Outcome("include_usage", BROKEN, a.problems[0])
    if a.usage is None:
        return Outcome("include_usage", IGNORED, "no chunk carried usage")
    if not all(isinstance(a.usage.get(k), int) for k in ("prompt_tokens", "completion_tokens")):
        return Outcome("include_usage", BROKEN, f"usage chunk malformed: {short(str(a.usage))}")
    return Outcome(
        "include_usage",
        WORKS,
        f"usage chunk {a.usage['prompt_tokens']}+{a.usage['completion_tokens']} tokens",
    )


def _parsed_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def json_object(ctx: Ctx) -> Outcome:
    extra = {"response_format": {"type": "json_object"}}
    prompt = "Answer in JSON: an object with a key 'city' naming the capital of France."
    out, _body, msg = chat_answer(
        "json_object", ctx, extra, ("response_format", "json_object"), prompt
    )
    if out:
        return out
    text = msg.get("content") or ""
    value = _parsed_json(text)
    if not isinstance(value, dict):
        return Outcome("json_object", IGNORED, f"content is not a JSON object: {short(text, 80)}")
    return Outcome("json_object", WORKS, f"a JSON object with keys {sorted(value)[:5]}")


CITY_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population_millions": {"type": "number"},
        "capital": {"type": "boolean"},
    },
    "required": ["city", "population_millions", "capital"],
    "additionalProperties": False,
}


def json_schema(ctx: Ctx) -> Outcome:
    rf = {
        "type": "json_schema",
        "json_schema": {"name": "city", "strict": True, "schema": CITY_SCHEMA},
    }
    prompt = "Describe Paris: its name, population in millions and whether it is a capital."
    names = ("response_format", "json_schema")
    out, _body, msg = chat_answer("json_schema", ctx, {"response_format": rf}, names, prompt)
    if out:
        return out
    text = msg.get("content") or ""
    value = _parsed_json(text)
    if value is None:
        return Outcome("json_schema", IGNORED, f"content is not JSON: {short(text, 80)}")
    problems = schema.errors(value, CITY_SCHEMA)
    if problems:
        return Outcome("json_schema", IGNORED, f"does not match the schema: {problems[0]}")
    return Outcome("json_schema", WORKS, "content matches the strict schema")


def logprobs(ctx: Ctx) -> Outcome:
    names = ("logprobs", "top_logprobs")
    out, body, _msg = chat_answer("logprobs", ctx, {"logprobs": True, "top_logprobs": 2}, names)
    if out:
        return out
    lp = body["choices"][0].get("logprobs")
    if lp is None:
        return Outcome("logprobs", IGNORED, "choices[0].logprobs is null")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content:
        return Outcome("logprobs", BROKEN, f"logprobs.content is not a list: {short(str(lp))}")
    for item in content:
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("token"), str)
            and isinstance(item.get("logprob"), (int, float))
            and isinstance(item.get("top_logprobs"), list)
        )
        if not ok:
            return Outcome("logprobs", BROKEN, f"a logprobs entry is malformed: {short(str(item))}")
    tops = {len(item["top_logprobs"]) for item in content}
    if not tops <= {1, 2, 3}:  # 2 asked; some servers add the sampled token
        return Outcome("logprobs", IGNORED, f"top_logprobs=2 gave lists of {sorted(tops)}")
    return Outcome("logprobs", WORKS, f"{len(content)} tokens with logprobs, top {max(tops)}")


def seed(ctx: Ctx) -> Outcome:
    texts = []
    for _ in range(2):
        out, _body, msg = chat_answer("seed", ctx, {"seed": 4242, "temperature": 1.0}, ("seed",))
        if out:
            return out
        texts.append(msg.get("content") or "")
    if texts[0] != texts[1]:
        return Outcome(
            "seed",
            IGNORED,
            f"same seed, different answers: {short(texts[0], 40)!r} vs {short(texts[1], 40)!r}",
        )
    return Outcome("seed", WORKS, "seed 4242 at temperature 1 answered the same twice")


def n_choices(ctx: Ctx) -> Outcome:
    out, body, _msg = chat_answer("n", ctx, {"n": 2}, ("n",))
    if out:
        return out
    count = len(body["choices"])
    if count == 1:
        return Outcome("n", IGNORED, "n=2 gave 1 choice")
    if count != 2:
        return Outcome("n", BROKEN, f"n=2 gave {count} choices")
    return Outcome("n", WORKS, "n=2 gave 2 choices")


def stop(ctx: Ctx) -> Outcome:
    # "e" is in nearly every English sentence; honoured, the answer holds none
    out, body, msg = chat_answer("stop", ctx, {"stop": ["e"]}, ("stop",))
    if out:
        return out
    text = msg.get("content") or ""
    if "e" in text:
        return Outcome("stop", IGNORED, f"stop 'e', answer still has one: {short(text, 60)!r}")
    finish = body["choices"][0].get("finish_reason")
    return Outcome("stop", WORKS, f"stopped at 'e': {short(text, 30)!r} (finish_reason {finish})")


def max_tokens_over_cap(ctx: Ctx) -> Outcome:
    cap = ctx.notes.get("max_output_tokens")
    asked = int(cap) + 1 if isinstance(cap, int) else 10_000_000
    reply = ctx.chat({"max_tokens": asked})
    names = ("max_tokens", "max_completion_tokens")
    if out := not_ok("max_tokens_over_cap", reply, names):
        return out
    return Outcome(
        "max_tokens_over_cap", IGNORED, f"max_tokens={asked} (over the cap) answered 200"
    )


RED_PNG = "data:image/png;base64," + base64.b64encode(solid_png((255, 0, 0))).decode()


def image_part(ctx: Ctx) -> Outcome:
    content = [
        {"type": "text", "text": "What colour is this image? Answer with one word."},
        {"type": "image_url", "image_url": {"url": RED_PNG}},
    ]
    names = ("image_url", "image", "content", "messages")
    out, _body, msg = chat_answer("image_part", ctx, {}, names, content)
    if out:
        return out
    text = msg.get("content") or ""
    first = re.sub(r"[^a-z]", "", (text.split() or [""])[0].lower())
    if first == "red":
        return Outcome("image_part", WORKS, f"a red image described as {short(text, 40)!r}")
    return Outcome("image_part", IGNORED, f"200, image not seen: {short(text, 60)!r}")


UNKNOWN_FIELD = "provocapi_probe_unknown"


def unknown_field(ctx: Ctx) -> Outcome:
    reply = ctx.chat({UNKNOWN_FIELD: True})
    if out := not_ok("unknown_field", reply, (UNKNOWN_FIELD,)):
        return out
    return Outcome("unknown_field", IGNORED, f"{UNKNOWN_FIELD} accepted and dropped (200)")


def error_envelope(ctx: Ctx) -> Outcome:
    reply = ctx.ep.post("/chat/completions", {"model": ctx.model, "messages": "not a list"})
    if reply.status == 200:
        return Outcome("error_envelope", IGNORED, "a bad request (messages not a list) got 200")
    if reply.status == 0 or reply.status >= 500:
        return not_ok("error_envelope", reply, ()) or Outcome("error_envelope", BROKEN, "?")
    if out := unmeasured("error_envelope", reply):
        return out
    err = envelope(reply.json())
    if err is None:
        text = short(reply.body.decode(errors="replace"))
        return Outcome(
            "error_envelope", BROKEN, f"HTTP {reply.status} without the envelope: {text}"
        )
    return Outcome(
        "error_envelope",
        WORKS,
        f"HTTP {reply.status} type={err['type']} code={err['code']} param={err['param']}",
    )
