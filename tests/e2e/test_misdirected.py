"""A base_url that misdirects the SDK (the endpoint in it, /v1 missing, a trailing
slash) gets a 404 naming the endpoint meant and where base_url ends, not a bare
"Invalid URL" (nor, for the doubled path, the stored-completions refusal)."""

from __future__ import annotations

import httpx2
import openai
import pytest

from .conftest import Stack

MODEL = "llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "base",
    ["/v1/chat/completions", "", "/v1/v1", "/api"],
    ids=["endpoint-in-base-url", "no-v1", "v1-twice", "other-prefix"],
)
def test_a_misdirected_sdk_is_told_the_endpoint_and_the_base_url(stack: Stack, base: str) -> None:
    with openai.OpenAI(base_url=stack.root_url + base, api_key=stack.key, max_retries=0) as c:
        with pytest.raises(openai.NotFoundError) as ei:
            c.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    body = ei.value.body
    assert isinstance(body, dict)
    assert body["code"] == "unknown_url" and body["type"] == "invalid_request_error"
    assert f"Invalid URL (POST {base}/chat/completions)" in body["message"]
    assert "the endpoint is POST /v1/chat/completions" in body["message"]
    assert "base_url ends at /v1" in body["message"]


def test_a_trailing_slash_is_named(raw: httpx2.Client, auth: dict[str, str]) -> None:
    for method, path in [("POST", "/v1/embeddings/"), ("GET", "/v1/models/"),
                         ("POST", "/v1/chat/completions/"), ("GET", "/v1/files/")]:  # fmt: skip
        r = raw.request(method, path, headers=auth, json={})
        assert r.status_code == 404, path
        msg = r.json()["error"]["message"]
        assert r.json()["error"]["code"] == "unknown_url", path
        assert f"the endpoint is {method} {path.rstrip('/')}, without the trailing slash" in msg


def test_what_is_not_ours_stays_as_it_was(raw: httpx2.Client, auth: dict[str, str]) -> None:
    # a stored completion's id, another API, a method the endpoint does not take
    stored = raw.get("/v1/chat/completions/chatcmpl-x", headers=auth).json()["error"]
    assert stored["code"] == "api_not_provided"
    listed = raw.get("/api/chat/completions", headers=auth).json()["error"]
    assert listed == {
        "message": "Invalid URL (GET /api/chat/completions).",
        "type": "invalid_request_error",
        "param": None,
        "code": "unknown_url",
    }
    assert raw.get("/v1/nothing-here").json()["error"]["message"] == (
        "Invalid URL (GET /v1/nothing-here)."
    )
