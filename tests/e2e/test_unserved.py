"""OpenAI APIs we do not serve answer 404 naming the API and what to use instead."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import orjson
import pytest

from .conftest import Stack

MODEL = "llama-3.1-8b-instruct"
# the Assistants API is deprecated in the SDK: we still answer its calls
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# (SDK call, words the message must hold: the API and the alternative)
CALLS: dict[str, tuple[Callable[[openai.OpenAI], Any], tuple[str, ...]]] = {
    "responses": (
        lambda c: c.responses.create(model=MODEL, input="hi"),
        ("Responses API", "/v1/chat/completions"),
    ),
    "responses-stream": (
        lambda c: c.responses.create(model=MODEL, input="hi", stream=True),
        ("Responses API", "/v1/chat/completions"),
    ),
    "assistants": (
        lambda c: c.beta.assistants.create(model=MODEL),
        ("Assistants API", "/v1/chat/completions"),
    ),
    "threads": (lambda c: c.beta.threads.create(), ("Assistants API", "/v1/chat/completions")),
    "images": (
        lambda c: c.images.generate(prompt="a cat", model="dall-e-3"),
        ("Image generation", "not on the roadmap"),
    ),
    "audio": (
        lambda c: c.audio.speech.create(model="tts-1", voice="alloy", input="hi"),
        ("audio API", "v1.5"),
    ),
    "transcription": (
        lambda c: c.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF")),
        ("audio API", "v1.5"),
    ),
    "fine-tuning": (
        lambda c: c.fine_tuning.jobs.create(model=MODEL, training_file="file-x"),
        ("fine-tuning API", "LoRA", "/v1/adapters"),
    ),
    "moderations": (
        lambda c: c.moderations.create(input="hi"),
        ("moderation endpoint", "/v1/chat/completions"),
    ),
    "realtime": (
        lambda c: c.realtime.client_secrets.create(),
        ("Realtime API", "stream"),
    ),
    "vector-stores": (
        lambda c: c.vector_stores.create(name="docs"),
        ("Vector stores", "/v1/embeddings"),
    ),
    # `store: true` is accepted and stores nothing: these were a 405 and unknown_url
    "stored-list": (lambda c: c.chat.completions.list(), ("Stored chat completions", "store")),
    "stored-retrieve": (
        lambda c: c.chat.completions.retrieve("chatcmpl-x"),
        ("Stored chat completions", "store"),
    ),
    "stored-update": (
        lambda c: c.chat.completions.update("chatcmpl-x", metadata={"a": "b"}),
        ("Stored chat completions", "store"),
    ),
    "stored-delete": (
        lambda c: c.chat.completions.delete("chatcmpl-x"),
        ("Stored chat completions", "store"),
    ),
    "stored-messages": (
        lambda c: c.chat.completions.messages.list("chatcmpl-x"),
        ("Stored chat completions", "store"),
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_sdk_calls_to_unserved_apis_say_what_to_use(client: openai.OpenAI, name: str) -> None:
    call, words = CALLS[name]
    with pytest.raises(openai.NotFoundError) as ei:
        call(client)
    body = ei.value.body
    assert isinstance(body, dict)
    assert body["code"] == "api_not_provided"
    assert body["type"] == "invalid_request_error"
    for word in words:
        assert word in body["message"], body["message"]


def test_unserved_apis_need_no_key_and_other_paths_stay_unknown(raw: httpx2.Client) -> None:
    r = raw.get("/v1/fine_tuning/jobs")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "api_not_provided"
    for path in ("/v1/responsesx", "/v1/nothing-here", "/responses"):
        r = raw.get(path)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "unknown_url", path


def _websocket(root_url: str, path: str) -> tuple[str, dict[str, Any], int]:
    """Open a WebSocket by hand: the status line, the first text event, the close code."""
    host, port = root_url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        frames: list[tuple[int, bytes]] = []
        while len(frames) < 2:
            while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
            n = rest[1] & 0x7F
            if n == 126:  # 16-bit length follows
                while len(rest) < 4 or len(rest) < 4 + int.from_bytes(rest[2:4], "big"):
                    rest += sock.recv(4096)
                n, start = int.from_bytes(rest[2:4], "big"), 4
            else:
                start = 2
            frames.append((rest[0] & 0x0F, rest[start : start + n]))
            rest = rest[start + n :]
    (text_op, text), (close_op, close) = frames
    assert (text_op, close_op) == (1, 8)
    return head.split(b"\r\n", 1)[0].decode(), orjson.loads(text), int.from_bytes(close[:2], "big")


def test_a_realtime_websocket_is_told_why_and_closed(stack: Stack) -> None:
    status, event, code = _websocket(stack.root_url, "/v1/realtime?model=gpt-4o-realtime")
    assert status.startswith("HTTP/1.1 101")
    assert event["type"] == "error" and event["error"]["code"] == "api_not_provided"
    assert "Realtime API" in event["error"]["message"]
    assert code == 1008  # policy violation
    _, other, _ = _websocket(stack.root_url, "/v1/somewhere")
    assert other["error"]["code"] == "unknown_url"
