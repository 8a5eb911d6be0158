"""How the simulator treats request fields beyond its protocol: content parts other than
text (a plain OpenAI provider's non-vision model refuses them), and the misbehaviour knobs
that let `provocapi probe` and `compare` be tested against every verdict:

- ``--ignore-fields a,b``: the fields are dropped before the answer is planned (a dropped
  ``seed`` answers differently each time, as a sampler that ignores it would);
- ``--refuse-fields a,b``: a request carrying one gets a 400 naming it;
- ``--broken-fields a,b``: a request carrying one gets a malformed answer (``tools``: calls
  whose arguments are cut short, not JSON; any other field: a 200 that is not JSON);
- ``--accept-images``: image and audio parts answer 200 and are dropped, unseen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .config import SimConfig
from .plan import AnswerPlan
from .textgen import Choice, split_tokens


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    param: str
    code: str | None


def active(cfg: SimConfig) -> bool:
    """Whether any knob is set (answers then vary or fail per request: no memo)."""
    return bool(cfg.ignore_fields or cfg.refuse_fields or cfg.broken_fields)


def refusal(body: dict[str, Any], cfg: SimConfig) -> Refusal | None:
    """The 400 this body earns: a refused field, or (openai profile) a non-text part."""
    for name in cfg.refuse_fields:
        if name in body:
            return Refusal(
                f"Unsupported parameter: '{name}' is not supported with this model.",
                name,
                "unsupported_parameter",
            )
    if cfg.openai and not cfg.accept_images:
        for i, m in enumerate(body.get("messages") or []):
            content = m.get("content") if isinstance(m, dict) else None
            if not isinstance(content, list):
                continue
            for j, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind != "text":
                    return Refusal(
                        f"Invalid content type. {kind} is only supported by certain models.",
                        f"messages.[{i}].content.[{j}].type",
                        None,
                    )
    return None


def ignored(body: dict[str, Any], cfg: SimConfig) -> dict[str, Any]:
    """The body as a provider that drops `--ignore-fields` sees it."""
    if not cfg.ignore_fields:
        return body
    out = {k: v for k, v in body.items() if k not in cfg.ignore_fields}
    if "seed" in cfg.ignore_fields:
        out["seed"] = int.from_bytes(os.urandom(4), "big")  # fresh randomness per request
    return out


def garbage(body: dict[str, Any], cfg: SimConfig) -> bool:
    """Whether the answer must be malformed (any broken field but tools, present)."""
    return any(name in body for name in cfg.broken_fields if name != "tools")


def break_calls(p: AnswerPlan, body: dict[str, Any], cfg: SimConfig) -> None:
    """`--broken-fields tools`: every tool call's arguments cut to half, so not JSON."""
    if "tools" not in cfg.broken_fields or not body.get("tools"):
        return
    for i, choice in enumerate(p.choices):
        call = p.calls[i]
        text = call.arguments if call is not None else "".join(choice.pieces)
        cut = text[: max(1, len(text) // 2)]
        # a new Choice: pieces may be shared (textgen.prose) and the text is cached
        p.choices[i] = Choice(split_tokens(cut), choice.finish_reason, choice.stop_reason)
        if call is not None:
            call.arguments = cut
    p.recount()
