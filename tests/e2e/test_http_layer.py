"""The HTTP layer under the routes: methods and request framing, as a careful server."""

from __future__ import annotations

import gzip
import socket
from urllib.parse import urlparse

import httpx2
import orjson
import pytest

from .conftest import Stack


def _connect(stack: Stack) -> socket.socket:
    url = urlparse(stack.root_url)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def _read_response(sock: socket.socket, buf: bytes, head_only: bool) -> tuple[bytes, bytes, bytes]:
    """(head, body, what followed) of one response; `head_only`: the answer to a HEAD."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if head_only:
        return head, b"", rest
    size = int(_header(head, b"content-length") or b"0")
    while len(rest) < size:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside the response body"
        rest += chunk
    return head, rest[:size], rest[size:]


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


@pytest.mark.parametrize("path", ["/health", "/v1/models", "/v1/models/gpt-4o-mini", "/metrics"])
def test_head_answers_as_get_without_a_body(stack: Stack, path: str) -> None:
    """RFC 9110 9.1: a general-purpose server supports HEAD wherever it serves GET
    (uptime monitors probe /health with it); it was 405. The body is left out, and the
    connection still carries the next request."""
    request = (
        f"HEAD {path} HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {stack.key}\r\n\r\n"
        f"GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n"
    ).encode()
    with _connect(stack) as sock:
        sock.sendall(request)
        head, _, rest = _read_response(sock, b"", head_only=True)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert _header(head, b"x-request-id"), head
        # the next bytes on the connection are the next response, not a body
        nxt, body, _ = _read_response(sock, rest, head_only=False)
        assert nxt.startswith(b"HTTP/1.1 200"), (nxt, rest[:200])
        assert body.startswith(b'{"status"'), body[:200]


def test_head_needs_the_key_as_get_does(raw: httpx2.Client) -> None:
    r = raw.head("/v1/models")
    assert r.status_code == 401
    assert r.headers.get("x-request-id")


def test_allow_names_head_beside_get(raw: httpx2.Client, auth: dict[str, str]) -> None:
    r = raw.post("/v1/models", headers=auth)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"  # every path answers OPTIONS (CORS)
    r = raw.head("/v1/chat/completions", headers=auth)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST, OPTIONS"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v1/batches/batch_x", "GET, HEAD, OPTIONS"),
        ("GET", "/v1/batches/batch_x/cancel", "POST, OPTIONS"),
        ("DELETE", "/v1/files/file-x/content", "GET, HEAD, OPTIONS"),
        ("POST", "/v1/files/file-x", "GET, HEAD, DELETE, OPTIONS"),
        ("DELETE", "/v1/batch/batch_x/output", "GET, HEAD, OPTIONS"),
        ("POST", "/v1/adapters/adapter_x", "GET, HEAD, DELETE, OPTIONS"),
    ],
)
def test_a_wrong_method_under_an_id_is_405_for_that_path(
    raw: httpx2.Client, auth: dict[str, str], method: str, path: str, allow: str
) -> None:
    """These were 404s (the handler of another method found no such sub-path), while
    the fixed routes answered 405: now the same rule everywhere."""
    r = raw.request(method, path, headers=auth)
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == allow
    assert r.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/v1/batch/batch_x/bogus", "/v1/files/file-x/content/more"])
def test_a_sub_path_no_route_has_is_unknown_url(
    raw: httpx2.Client, auth: dict[str, str], path: str
) -> None:
    r = raw.get(path, headers=auth)  # was batch_not_found: the id was looked up first
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_url"


def test_ids_under_a_prefix_still_reach_their_handler(
    raw: httpx2.Client, auth: dict[str, str]
) -> None:
    assert raw.get("/v1/files/file-x", headers=auth).json()["error"]["code"] == "file_not_found"
    assert raw.head("/v1/files/file-x/content", headers=auth).status_code == 404
    r = raw.get("/v1/models/org/some-model", headers=auth)  # a model id may hold "/"
    assert r.json()["error"]["code"] == "model_not_found"


CHAT = {"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(orjson.dumps(CHAT))),
        ("br", orjson.dumps(CHAT)),  # a plain body said to be compressed: not read as plain
        ("gzip, identity", gzip.compress(orjson.dumps(CHAT))),
    ],
    ids=["gzip", "br", "gzip-identity"],
)
def test_a_compressed_body_is_415(
    raw: httpx2.Client, auth: dict[str, str], encoding: str, body: bytes
) -> None:
    """A gzip body was a 400 "could not parse the JSON body" and any other coding was
    ignored, the bytes read as plain JSON. RFC 9110 15.5.16: 415, with Accept-Encoding."""
    headers = {**auth, "Content-Type": "application/json", "Content-Encoding": encoding}
    r = raw.post("/v1/chat/completions", content=body, headers=headers)
    assert r.status_code == 415, r.text
    err = r.json()["error"]
    assert err["code"] == "unsupported_content_encoding", err
    assert err["type"] == "invalid_request_error", err
    assert encoding in err["message"], err
    assert r.headers["accept-encoding"] == "identity"
    assert r.headers.get("x-request-id")
    assert "connection" not in r.headers  # a small body is read off: the connection stays


def test_a_compressed_upload_is_415(raw: httpx2.Client, auth: dict[str, str]) -> None:
    headers = {
        **auth,
        "Content-Type": "multipart/form-data; boundary=XX",
        "Content-Encoding": "gzip",
    }
    body = gzip.compress(b'--XX\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nbatch')
    r = raw.post("/v1/files", content=body, headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_content_encoding"


def test_identity_is_no_coding(raw: httpx2.Client, auth: dict[str, str]) -> None:
    headers = {**auth, "Content-Encoding": "Identity"}
    r = raw.post("/v1/chat/completions", json={**CHAT, "max_tokens": 2}, headers=headers)
    assert r.status_code == 200, r.text


CHAT_OK = {**CHAT, "max_tokens": 2}
BATCH = {"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
HUB = {"name": "a", "base_model": "llama-3.1-8b-instruct", "repo": "org/a"}


@pytest.mark.parametrize(
    ("path", "body", "media_type"),
    [
        ("/v1/chat/completions", CHAT_OK, "text/plain"),
        ("/v1/chat/completions", CHAT_OK, "text/plain; charset=utf-8"),
        ("/v1/chat/completions", CHAT_OK, "application/x-www-form-urlencoded"),  # curl -d
        ("/v1/chat/completions", CHAT_OK, "multipart/form-data; boundary=XX"),
        ("/v1/chat/completions", CHAT_OK, "application/jsonl"),
        ("/v1/chat/completions", CHAT_OK, "application/json-patch"),
        ("/v1/completions", {"model": CHAT["model"], "prompt": "hi"}, "text/plain"),
        ("/v1/embeddings", {"model": "bge-m3", "input": "hi"}, "application/xml"),
        ("/v1/batches", BATCH, "multipart/form-data; boundary=XX"),
        ("/v1/adapters", HUB, "text/plain"),
    ],
)
def test_a_body_of_another_media_type_is_415(
    raw: httpx2.Client, auth: dict[str, str], path: str, body: object, media_type: str
) -> None:
    """A body said to be text, a form or multipart was read as JSON all the same. A
    client that says it sends something else has a bug the answer should name (curl's
    -d alone sends a form), and a page's form-like POST (text/plain, no preflight) is
    no JSON call: RFC 9110 15.5.16, 415, before anything runs."""
    headers = {**auth, "Content-Type": media_type}
    r = raw.post(path, content=orjson.dumps(body), headers=headers)
    assert r.status_code == 415, r.text
    err = r.json()["error"]
    assert (err["type"], err["code"]) == ("invalid_request_error", "unsupported_media_type"), err
    assert media_type.split(";")[0] in err["message"], err
    assert "application/json" in err["message"], err
    assert r.headers["x-should-retry"] == "false"
    if "urlencoded" in media_type:
        assert "curl" in err["message"], err


@pytest.mark.parametrize(
    "media_type",
    [None, "", "application/json", "Application/JSON; charset=UTF-8",
     "application/json;charset=utf-8", "application/json ; charset=utf-8",
     "application/vnd.api+json", "APPLICATION/MERGE-PATCH+JSON"],
)  # fmt: skip
def test_a_json_body_is_read_whatever_its_json_media_type(
    raw: httpx2.Client, auth: dict[str, str], media_type: str | None
) -> None:
    """JSON under any of its media types (parameters and case aside, `+json` too), or
    a body that names none (as before): read as JSON."""
    headers = dict(auth) if media_type is None else {**auth, "Content-Type": media_type}
    r = raw.post("/v1/chat/completions", content=orjson.dumps(CHAT_OK), headers=headers)
    assert r.status_code == 200, r.text


def _get_raw(stack: Stack, target: bytes) -> tuple[int, dict[str, object]]:
    """GET with the request target sent byte for byte (clients percent-encode)."""
    with _connect(stack) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "
                     + stack.key.encode() + b"\r\n\r\n")  # fmt: skip
        head, body, _ = _read_response(sock, b"", head_only=False)
    return int(head.split(b" ")[1]), orjson.loads(body)


USAGE = b"/v1/usage?start_date=2026-01-01&end_date=2026-01-01&"
RAW_UTF8 = "й".encode()  # sent unescaped: no URI holds it


@pytest.mark.parametrize(
    ("target", "param"),
    [
        (b"/health/ready?model=" + RAW_UTF8, "model"),
        (b"/health/ready?model=%FF", "model"),
        (b"/v1/files?after=" + RAW_UTF8, "after"),
        (b"/v1/files?after=%D0", "after"),
        (b"/v1/batches?after=%FF%FE", "after"),
        (b"/v1/batch?limit=" + RAW_UTF8, "limit"),
        (USAGE + b"model=%C3%28", "model"),
        (USAGE + b"model=" + RAW_UTF8, "model"),
        (b"/v1/adapters?after=%FF", "after"),
        (b"/v1/adapters?after=" + RAW_UTF8, "after"),
        (b"/v1/files?%FF=1", None),
    ],
)
def test_a_query_that_is_not_utf8_is_400(stack: Stack, target: bytes, param: str | None) -> None:
    """Raw bytes and escapes of invalid UTF-8 were read as latin-1 (or U+FFFD): a lookup
    of a mojibake id. Now a 400 names the parameter."""
    status, body = _get_raw(stack, target)
    assert status == 400, body
    err = body["error"]
    assert isinstance(err, dict)
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error",
                                                        "invalid_value", param)  # fmt: skip
    assert "UTF-8" in err["message"], err


def test_percent_escapes_decode_as_utf8(stack: Stack) -> None:
    status, body = _get_raw(stack, b"/health/ready?model=%D0%B9")
    assert status == 404, body
    assert "'й'" in str(body["error"]), body  # the name as sent, not 'Ð¹'
    status, body = _get_raw(stack, USAGE + b"%D0%B9+x=1")
    assert status == 400, body
    assert "'й x'" in str(body["error"]), body
