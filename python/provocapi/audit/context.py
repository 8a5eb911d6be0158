"""What every probe works with: the endpoint, the models, and the requests they share."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from .verdicts import BROKEN, Outcome, not_ok, short
from .wire import Endpoint, Reply, Streamed

PROMPT = "Write one short sentence about the sea."
MAX_TOKENS = 64

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    },
}
TOOLS = [WEATHER, TIME]
TOOL_PROMPT = "Use the get_weather tool: what is the weather in Paris?"


@dataclass
class Ctx:
    ep: Endpoint
    model: str
    embedding_model: str | None = None
    provoke_429: bool = False
    max_429: int = 300  # requests at most while provoking a 429
    embedding_dims: int | None = None  # learnt by the float probe, used by the next ones
    notes: dict[str, Any] = field(default_factory=dict)

    def user(self, content: Any = PROMPT) -> list[dict[str, Any]]:
        return [{"role": "user", "content": content}]

    def chat_body(self, extra: dict[str, Any], content: Any = PROMPT) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.user(content),
            "max_tokens": MAX_TOKENS,
        }
        body.update(extra)
        return body

    def chat(
        self, extra: dict[str, Any], content: Any = PROMPT, headers: dict[str, str] | None = None
    ) -> Reply:
        return self.ep.post("/chat/completions", self.chat_body(extra, content), headers)

    def stream(self, extra: dict[str, Any], content: Any = PROMPT) -> Streamed:
        return self.ep.stream("/chat/completions", self.chat_body(extra, content))


def stream_not_ok(probe: str, s: Streamed, names: tuple[str, ...]) -> Outcome | None:
    """The verdict of a streamed request that did not stream cleanly; None when it did."""
    if s.status != 200:
        return not_ok(probe, Reply(s.status, s.headers, s.body, s.elapsed_s, s.failure), names)
    if s.failure:
        return Outcome(probe, BROKEN, f"the stream broke off: {short(s.failure)}")
    if s.body:
        return Outcome(probe, BROKEN, f"200 without text/event-stream: {short(repr(s.body))}")
    if s.malformed:
        return Outcome(probe, BROKEN, f"a chunk is not JSON: {short(s.malformed[0])}")
    if not s.done:
        return Outcome(probe, BROKEN, "the stream ended without data: [DONE]")
    return None


def solid_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A small one-colour PNG, made here so the probe carries no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * size
    head = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )
