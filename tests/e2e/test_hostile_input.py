"""What a hostile client can send: each answer a 4xx naming the problem, never a 500.

Each test reproduces a defect found from outside (the sizes scaled down where the
behaviour is the same), checks the status, `code` and `param`, that the gateway
logged no traceback for it, and that it still serves afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from harness.proctree import descendants

from .conftest import ADMIN_KEY, Stack
from .test_errors import raw_error

MODEL = "llama-3.1-8b-instruct"
HELLO = {"role": "user", "content": "hello"}
QUOTE_CHARS = 256  # docs/config.md: at most this much client input in an error
MAX_DEPTH = 64  # docs/config.md: nesting allowed in a request body
RECURSION_DEPTH = 985  # where the decoder hit Python's recursion limit


@pytest.fixture
def no_traceback(stack: Stack) -> Iterator[None]:
    """The gateway logs no error or traceback while the test runs."""
    start = stack.gateway.log_path.stat().st_size
    yield
    with stack.gateway.log_path.open("rb") as f:
        f.seek(start)
        logged = f.read().decode(errors="replace")
    for mark in ("Traceback", "unhandled error", "ERROR"):
        assert mark not in logged, logged[-4000:]
    assert stack.gateway.alive(), stack.gateway.output()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post(raw: httpx2.Client, auth: dict[str, str], path: str, body: str) -> httpx2.Response:
    return raw.post(path, headers={**auth, "Content-Type": "application/json"}, content=body)


def still_serves(raw: httpx2.Client, auth: dict[str, str]) -> None:
    r = raw.post(
        "/v1/chat/completions",
        headers=auth,
        json={"model": MODEL, "messages": [HELLO], "max_tokens": 2},
    )
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- unbounded memory


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of a process and all its descendants (the Granian workers)."""
    tree = descendants(root)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def test_wrong_keys_leave_no_memory_behind(stack: Stack, no_traceback: None) -> None:
    """Defect 1: every distinct wrong key (8 digits + 256 KiB) was remembered for good:
    2,000 of them took a worker from 351 to 852 MB. 400 of them would keep 100 MB."""
    pad = "x" * (256 * 1024)

    def send(n: int, first: int) -> None:
        with httpx2.Client(base_url=stack.root_url, timeout=30.0, trust_env=False) as c:
            for i in range(first, first + n):
                r = c.get("/v1/models", headers={"Authorization": f"Bearer {i:08d}{pad}"})
                assert r.status_code in (401, 431), r.text[:300]
                if r.status_code == 401:
                    assert r.json()["error"]["code"] == "invalid_api_key"
                    assert len(r.content) < 1024  # the key is not echoed back

    send(50, 0)  # warm up: allocator arenas, connection buffers
    before = _tree_rss_bytes(stack.gateway.popen.pid)
    send(400, 50)
    grown = _tree_rss_bytes(stack.gateway.popen.pid) - before
    assert grown < 30 * 1024 * 1024, f"the gateway grew by {grown / 2**20:.0f} MB"


def test_oversized_and_odd_keys_are_401(raw: httpx2.Client, no_traceback: None) -> None:
    for value in (
        "Bearer pk-prov-" + "a" * 300,  # past the credential limit
        "Bearer pk-prov-" + "a" * 43,  # the right shape, not a key
        "Basic dXNlcjpwYXNz",
    ):
        r = raw.get("/v1/models", headers={"Authorization": value})
        err = raw_error(r, 401, "invalid_request_error", "invalid_api_key")
        assert len(err["message"]) < 200
    # a Bearer with nothing after it sent no key (curl's `Bearer $KEY` with KEY unset)
    r = raw.get("/v1/models", headers={"Authorization": "Bearer"})
    raw_error(r, 401, "invalid_request_error", "missing_api_key")
    r = raw.get("/v1/models", headers={"Authorization": "Bearer clé-ü".encode()})
    raw_error(r, 401, "invalid_request_error", "invalid_api_key")


def test_another_scheme_s_credential_is_not_echoed(raw: httpx2.Client) -> None:
    """A Bearer key's first 8 and last 4 characters help find the wrong key; a Basic
    credential's were echoed too, and base64 'dXNlcjpw' is 'user:p': the user name and
    the start of a password, in an error the client may log."""
    r = raw.get("/v1/models", headers={"Authorization": "Basic dXNlcjpwYXNzd29yZA=="})
    err = raw_error(r, 401, "invalid_request_error", "invalid_api_key")
    assert "dXNl" not in err["message"] and "ZA==" not in err["message"], err


@pytest.mark.parametrize("valid_first", [True, False])
def test_two_authorization_headers_are_refused(
    raw: httpx2.Client, stack: Stack, valid_first: bool
) -> None:
    """The last one won, silently: a proxy in front that checked the first one (another
    tenant's key, or its own) would disagree with the gateway about who is calling."""
    pair = [("Authorization", f"Bearer {stack.key}"), ("Authorization", "Bearer pk-prov-other")]
    r = raw.get("/v1/models", headers=pair if valid_first else pair[::-1])
    err = raw_error(r, 401, "invalid_request_error", "invalid_api_key")
    assert "more than one Authorization header" in err["message"], err
    assert stack.key[8:20] not in err["message"]
    ok = raw.get("/v1/models", headers={"Authorization": f"Bearer {stack.key}"})
    assert ok.status_code == 200


# --------------------------------------------------------------------------- admin key


def test_non_ascii_authorization_on_admin_routes(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    """Defect 7: hmac.compare_digest raised on a non-ASCII str: 500 and a traceback."""
    header = {"Authorization": "Bearer ädmin-ключ".encode()}
    r = raw.post("/admin/reload", headers=header)
    raw_error(r, 401, "invalid_request_error", "invalid_api_key")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    query = f"/v1/usage?start_date={today}&end_date={today}"
    r = raw.get(query, headers=header)
    raw_error(r, 401, "invalid_request_error", "invalid_api_key")
    r = raw.get(query + "&tenant=main", headers={"Authorization": b"Bearer \xff\xfe\x80"})
    raw_error(r, 401, "invalid_request_error", "invalid_api_key")
    # the admin key itself still works, and a tenant's key is not it
    r = raw.get(query + "&tenant=main", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "list"
    r = raw.post("/admin/reload", headers=auth)
    raw_error(r, 401, "invalid_request_error", "invalid_api_key")
    r = raw.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}x"})
    raw_error(r, 401, "invalid_request_error", "invalid_api_key")


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, RECURSION_DEPTH, 3000])
@pytest.mark.parametrize(
    ("path", "template", "param"),
    [
        (
            "/v1/chat/completions",
            '{"model": "%s", "messages": [{"role": "user", "content": "hi", "x": %s}]}',
            "messages[0].x",
        ),
        ("/v1/completions", '{"model": "%s", "prompt": %s}', "prompt"),
        ("/v1/embeddings", '{"model": "%s", "input": %s}', "input"),
    ],
)
def test_deep_nesting_is_400(
    raw: httpx2.Client,
    auth: dict[str, str],
    no_traceback: None,
    path: str,
    template: str,
    param: str,
    depth: int,
) -> None:
    """Defect 4: about 985 levels in a free-form field hit msgspec's RecursionError."""
    model = "bge-m3" if "embeddings" in path else MODEL
    r = post(raw, auth, path, template % (model, nested(depth)))
    err = raw_error(r, 400, "invalid_request_error", "invalid_value")
    assert err["param"] == param, err
    assert str(MAX_DEPTH) in err["message"]


def test_deep_tool_calls_are_400(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    """Defect 6: tool_calls nested past 254 levels broke orjson in token counting."""
    call = '{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}'
    body = (
        f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "hi"}}, '
        f'{{"role": "assistant", "content": null, "tool_calls": [{call}, "deep": '
        + nested(300)
        + "}]}]}"
    )
    r = post(raw, auth, "/v1/chat/completions", body)
    err = raw_error(r, 400, "invalid_request_error", "invalid_value")
    assert err["param"] == "messages[1].tool_calls", err


def test_nesting_within_the_limit_is_served(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(20):  # a tool schema 40+ levels deep
        schema = {"type": "object", "properties": {"a": schema}}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    r = raw.post(
        "/v1/chat/completions",
        headers=auth,
        json={"model": MODEL, "messages": [HELLO], "tools": [tool], "max_tokens": 4},
    )
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ({"role": ["user"], "content": "x"}, "invalid_type", "messages[0].role"),
        ({"role": {"a": 1}, "content": "x"}, "invalid_type", "messages[0].role"),
        ({"role": "wizard", "content": "x"}, "invalid_value", "messages[0].role"),
        ({"content": "x"}, "missing_required_parameter", "messages[0].role"),
        ({"role": "user", "content": 5}, "invalid_type", "messages[0].content"),
        ({"role": "user", "content": [{"text": "x"}]}, "invalid_type", "messages[0].content[0]"),
        (
            {"role": "user", "content": [{"type": "text", "text": ["x"]}]},
            "invalid_type",
            "messages[0].content[0].text",
        ),
        ({"role": "user", "content": "x", "name": ["n"]}, "invalid_type", "messages[0].name"),
        ({"role": "assistant", "tool_calls": "f()"}, "invalid_type", "messages[0].tool_calls"),
        (
            {"role": "assistant", "tool_calls": [{"function": {"name": 7}}]},
            "invalid_type",
            "messages[0].tool_calls[0].function.name",
        ),
        (
            {"role": "tool", "content": "x", "tool_call_id": 1},
            "invalid_type",
            "messages[0].tool_call_id",
        ),
        # OpenAI requires these roles' content; the worker rendered an empty turn (200)
        ({"role": "user"}, "missing_required_parameter", "messages[0].content"),
        ({"role": "system", "name": "s"}, "missing_required_parameter", "messages[0].content"),
        ({"role": "developer", "content": None}, "invalid_type", "messages[0].content"),
        (
            {"role": "tool", "content": None, "tool_call_id": "c"},
            "invalid_type",
            "messages[0].content",
        ),
    ],
)
def test_message_shapes_are_400(
    raw: httpx2.Client,
    auth: dict[str, str],
    no_traceback: None,
    message: dict[str, Any],
    code: str,
    param: str,
) -> None:
    """Defect 5: a role that is an array or an object was hashed: 500."""
    r = raw.post("/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": [message]})
    err = raw_error(r, 400, "invalid_request_error", code)
    assert err["param"] == param, err


@pytest.mark.parametrize("prompt", [[{"a": 1}], [["x"]], [1, "x"], [True]])
def test_prompt_shapes_are_400(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None, prompt: object
) -> None:
    r = raw.post("/v1/completions", headers=auth, json={"model": MODEL, "prompt": prompt})
    err = raw_error(r, 400, "invalid_request_error", "invalid_type")
    assert err["param"] == "prompt", err


@pytest.mark.parametrize("field", ["seed", "top_k", "min_tokens", "max_tokens", "n"])
def test_integers_past_64_bits_are_400(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None, field: str
) -> None:
    body = (
        f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "hi"}}], '
        f'"{field}": {"9" * 40}}}'
    )
    err = raw_error(post(raw, auth, "/v1/chat/completions", body), 400,
                    "invalid_request_error", "invalid_value")  # fmt: skip
    assert err["param"] == field, err


def test_huge_integer_in_a_tool_call_is_no_500(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    """orjson refuses integers past 64 bits; counting the prompt used it on tool calls."""
    call = '{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}'
    body = (
        f'{{"model": "{MODEL}", "max_tokens": 4, "messages": '
        '[{"role": "user", "content": "hi"}, '
        f'{{"role": "assistant", "content": null, "tool_calls": [{call}, "n": {"9" * 40}}}]}}, '
        '{"role": "tool", "tool_call_id": "c1", "content": "ok"}]}'
    )
    r = post(raw, auth, "/v1/chat/completions", body)
    assert r.status_code < 500, r.text


# --------------------------------------------------------------------------- echoed input


def test_long_model_name_is_not_echoed_in_full(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    """A 1 MB model name came back whole in the 404 (60 KB here: the stack's body limit)."""
    name = "m" * 60_000
    r = raw.post("/v1/chat/completions", headers=auth, json={"model": name, "messages": [HELLO]})
    err = raw_error(r, 404, "invalid_request_error", "model_not_found")
    assert "m" * QUOTE_CHARS + "..." in err["message"]
    assert len(err["message"]) < QUOTE_CHARS + 100, len(err["message"])
    r = raw.get("/v1/models/" + "m" * 4000, headers=auth)
    err = raw_error(r, 404, "invalid_request_error", "model_not_found")
    assert len(err["message"]) < QUOTE_CHARS + 100, len(err["message"])


def test_long_field_name_and_path_are_truncated(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    field = "f" * 10_000
    r = raw.post(
        "/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": [HELLO], field: 1}
    )
    err = raw_error(r, 400, "invalid_request_error", "unknown_parameter")
    assert err["param"] == "f" * QUOTE_CHARS + "..."
    assert len(err["message"]) < QUOTE_CHARS + 100
    r = raw.get("/v1/" + "p" * 4000, headers=auth)
    err = raw_error(r, 404, "invalid_request_error", "unknown_url")
    assert len(err["message"]) < QUOTE_CHARS + 100


def test_still_serving_after_hostile_input(
    raw: httpx2.Client, auth: dict[str, str], no_traceback: None
) -> None:
    still_serves(raw, auth)
