"""OpenAI APIs we do not serve answer 404 naming the API and what to use instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest

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
