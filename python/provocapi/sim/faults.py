"""Per-request fault triggers written in the prompt, e.g. ``[sim:status=503]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TRIGGER = re.compile(r"\[sim:([a-z_]+)(?:=([0-9A-Za-z_.]+))?\]")


@dataclass(slots=True)
class Triggers:
    status: int | None = None  # answer with this status and an error body
    garbage: bool = False  # 200 with a body that is not JSON / SSE that is not JSON
    drop_after: int | None = None  # close after N content chunks (non-stream: at once)
    finish: str | None = None  # "timeout" | "cancelled"
    delay_ms: float = 0.0  # before the answer / the first chunk


NONE = Triggers()


def parse(text: str) -> Triggers:
    # the common case: one character search (memchr), far cheaper than the marker's
    if "[" not in text or "[sim:" not in text:
        return NONE
    t = Triggers()
    for name, value in _TRIGGER.findall(text):
        if name == "status" and value.isdigit():
            t.status = int(value)
        elif name == "garbage":
            t.garbage = True
        elif name == "drop_after" and value.isdigit():
            t.drop_after = int(value)
        elif name == "finish" and value in ("timeout", "cancelled", "stop", "length"):
            t.finish = value
        elif name == "delay_ms":
            try:
                t.delay_ms = float(value)
            except ValueError:
                pass
    return t
