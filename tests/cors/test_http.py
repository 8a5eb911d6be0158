"""CORS over HTTP: preflights and the answers a page reads, under each policy.

Before cors.py, every OPTIONS was a 405 and no answer named an allowed origin: a
page using the `openai` JS SDK in a browser failed at its first preflight.
"""

from __future__ import annotations

import socket

import httpx2
import orjson
import pytest
from harness.gateway import Gateway

from .conftest import LISTED, MODEL, Keyed

SITE = "https://some-web-app.example"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
# what the openai JS SDK asks to send (x-stainless-*: its platform and retry headers)
SDK_HEADERS = (
    "authorization, content-type, x-stainless-arch, x-stainless-lang, x-stainless-os, "
    "x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, "
    "x-stainless-runtime-version, x-stainless-timeout, openai-organization, openai-project"
)
# every header the gateway sets that a page may want: ids, retry advice, rate limits
OURS = {"x-request-id", "x-provocapi-model", "x-provocapi-worker", "x-provocapi-queue-ms",
        "retry-after", "retry-after-ms", "x-should-retry", "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens"}  # fmt: skip


def _client(gw: Gateway) -> httpx2.Client:
    return httpx2.Client(base_url=gw.url, trust_env=False, timeout=30.0)


def _preflight(
    gw: Gateway, path: str, origin: str, method: str = "POST", headers: str = SDK_HEADERS
) -> httpx2.Response:
    ask = {"origin": origin, "access-control-request-method": method}
    if headers:
        ask["access-control-request-headers"] = headers
    with _client(gw) as c:
        return c.options(path, headers=ask)


def _exposed(r: httpx2.Response) -> set[str]:
    value = r.headers.get("access-control-expose-headers", "")
    return {h.strip() for h in value.split(",") if h.strip()}


def _readable_by_any(r: httpx2.Response) -> None:
    assert r.headers.get("access-control-allow-origin") == "*", r.headers
    assert "access-control-allow-credentials" not in r.headers  # keys, not cookies
    assert OURS <= _exposed(r), OURS - _exposed(r)


def _refused(r: httpx2.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-methods" not in r.headers


# keys required, the default policy: any origin, as api.openai.com


def test_the_sdk_s_preflight_is_answered(keyed: Keyed) -> None:
    r = _preflight(keyed.gateway, "/v1/chat/completions", SITE,
                   headers=SDK_HEADERS + ", x-not-ours")  # fmt: skip
    assert r.status_code == 204, r.text
    assert r.content == b""
    _readable_by_any(r)
    assert r.headers["access-control-allow-methods"] == "POST"
    allowed = r.headers["access-control-allow-headers"].split(", ")
    assert allowed == SDK_HEADERS.split(", ")  # each asked for, in order; not x-not-ours
    assert r.headers["access-control-max-age"] == "7200"


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/models", "GET, HEAD"),
        ("/v1/models/org/some-model", "GET, HEAD"),
        ("/v1/files", "POST, GET, HEAD"),
        ("/v1/files/file-x", "GET, HEAD, DELETE"),
        ("/v1/files/file-x/content", "GET, HEAD"),
        ("/v1/batches/batch_x/cancel", "POST"),
        ("/v1/embeddings", "POST"),
        ("/openapi.json", "GET, HEAD"),
        # no route: the call goes through to the 404 that names the mistake
        ("/v1/responses", "GET, HEAD, POST, DELETE"),
        ("/v1/files/file-x/bogus", "GET, HEAD, POST, DELETE"),
    ],
)
def test_a_preflight_names_the_path_s_methods(keyed: Keyed, path: str, methods: str) -> None:
    asked = methods.split(", ")[0]  # one the path takes
    r = _preflight(keyed.gateway, path, SITE, method=asked, headers="authorization")
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-methods"] == methods
    assert r.headers["access-control-allow-headers"] == "authorization"


@pytest.mark.parametrize(
    ("path", "method", "methods", "status"),
    [
        ("/v1/chat/completions", "DELETE", "POST, DELETE", 405),
        ("/v1/models", "PUT", "GET, HEAD, PUT", 405),
        ("/v1/files/file-x", "PATCH", "GET, HEAD, DELETE, PATCH", 405),
        ("/v1/responses", "PATCH", "GET, HEAD, POST, DELETE, PATCH", 404),
    ],
)
def test_a_preflight_for_a_method_the_path_refuses_lets_the_page_read_why(
    keyed: Keyed, path: str, method: str, methods: str, status: int
) -> None:
    """The preflight named the path's methods only: the browser then failed the call
    with a network error (the SDK's "Connection error."), and the page never saw the
    405 that says which method the path takes. Now the asked method is allowed too,
    after the path's own, and the call gets its 405 (or 404), readable by the page."""
    r = _preflight(keyed.gateway, path, SITE, method=method, headers="authorization")
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-methods"] == methods
    with _client(keyed.gateway) as c:
        call = c.request(
            method, path, headers={"origin": SITE, "authorization": f"Bearer {keyed.key}"}
        )
    assert call.status_code == status, call.text
    _readable_by_any(call)
    if status == 405:
        assert call.json()["error"]["code"] == "method_not_allowed"
        assert "allow" in _exposed(call) and method not in call.headers["allow"]
    # a method that is no HTTP token is not echoed (nor any header built from it)
    odd = _preflight(keyed.gateway, path, SITE, method="PO ST", headers="")
    assert odd.headers["access-control-allow-methods"] == methods.rsplit(", ", 1)[0]


PRIVATE = {"access-control-request-private-network": "true"}


def test_private_network_access_is_allowed_with_keys(keyed: Keyed, listed: Keyed) -> None:
    """Chromium's Private Network Access preflights a public site's call to a private or
    loopback address with `Access-Control-Request-Private-Network: true`; without the
    answer's `Access-Control-Allow-Private-Network: true` it blocks the call. With keys a
    key authenticates, as on a public address: an allowed origin is answered yes."""
    for gw, origin in ((keyed.gateway, SITE), (listed.gateway, LISTED)):
        ask = {"origin": origin, "access-control-request-method": "POST", **PRIVATE}
        with _client(gw) as c:
            r = c.options("/v1/chat/completions", headers=ask)
            assert r.status_code == 204, r.text
            assert r.headers["access-control-allow-private-network"] == "true"
            del ask["access-control-request-private-network"]
            plain = c.options("/v1/chat/completions", headers=ask)
            assert "access-control-allow-private-network" not in plain.headers
    refused = {"origin": SITE, "access-control-request-method": "POST", **PRIVATE}
    with _client(listed.gateway) as c:
        _refused(c.options("/v1/chat/completions", headers=refused))


def test_private_network_access_is_never_allowed_keyless(keyless: Gateway) -> None:
    """Keyless, nothing but the origin stands between a page and the workers: a public
    site reaching it from inside the network is what PNA exists to stop."""
    ask = {"origin": "http://localhost:5173", "access-control-request-method": "POST", **PRIVATE}
    with _client(keyless) as c:
        r = c.options("/v1/chat/completions", headers=ask)
    assert r.status_code == 204, r.text
    assert "access-control-allow-private-network" not in r.headers


def test_answers_and_errors_are_readable_by_the_page(keyed: Keyed) -> None:
    page = {"origin": SITE}
    auth = {**page, "authorization": f"Bearer {keyed.key}"}
    with _client(keyed.gateway) as c:
        ok = c.post("/v1/chat/completions", json=CHAT, headers=auth)
        assert ok.status_code == 200, ok.text
        _readable_by_any(ok)
        assert ok.headers["x-request-id"] and ok.headers["x-provocapi-worker"]
        for r, status in [
            (c.post("/v1/chat/completions", json=CHAT, headers=page), 401),
            (c.post("/v1/chat/completions", json={**CHAT, "model": "nope"}, headers=auth), 404),
            (c.delete("/v1/chat/completions", headers=auth), 405),
            (c.post("/v1/responses", json={}, headers=auth), 404),
        ]:
            assert r.status_code == status, r.text
            _readable_by_any(r)
            assert r.json()["error"]["code"]


def test_a_429_s_retry_advice_is_readable(keyed: Keyed) -> None:
    headers = {"origin": SITE, "authorization": f"Bearer {keyed.limited_key}"}
    with _client(keyed.gateway) as c:
        first = c.post("/v1/chat/completions", json=CHAT, headers=headers)
        second = c.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert first.status_code == 200, first.text
    assert second.status_code == 429, second.text
    _readable_by_any(second)
    assert second.headers["retry-after"]
    assert second.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_stream_is_readable_by_the_page(keyed: Keyed) -> None:
    headers = {"origin": SITE, "authorization": f"Bearer {keyed.key}"}
    with (
        _client(keyed.gateway) as c,
        c.stream(
            "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=headers
        ) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        _readable_by_any(r)
        body = b"".join(r.iter_bytes())
    assert body.rstrip().endswith(b"data: [DONE]"), body[-200:]


def test_a_call_without_origin_is_as_before(keyed: Keyed) -> None:
    """Server-side SDK calls send no Origin: no CORS header is added to their answers."""
    with _client(keyed.gateway) as c:
        r = c.post("/v1/chat/completions", json=CHAT,
                   headers={"authorization": f"Bearer {keyed.key}"})  # fmt: skip
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-") or h == "vary"]


def test_options_without_origin_names_the_methods(keyed: Keyed) -> None:
    """A plain OPTIONS (RFC 9110 9.3.7) is answered, and 405s now list OPTIONS too."""
    with _client(keyed.gateway) as c:
        r = c.options("/v1/chat/completions")
        assert r.status_code == 204, r.text
        assert r.headers["allow"] == "POST, OPTIONS"
        assert "access-control-allow-origin" not in r.headers
        # the same with an Origin but no Access-Control-Request-Method: not a preflight
        r = c.options("/v1/models", headers={"origin": SITE})
        assert r.status_code == 204
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        assert "access-control-allow-methods" not in r.headers
        assert c.options("/v1/no/such/thing").status_code == 404
        r = c.delete("/v1/models", headers={"authorization": f"Bearer {keyed.key}"})
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/metrics"])
def test_keyless_operations_routes_are_not_for_pages(keyed: Keyed, path: str) -> None:
    """They need no key: under `*`, any site could read them through the browser of
    someone inside the network."""
    with _client(keyed.gateway) as c:
        _refused(c.get(path, headers={"origin": SITE}))
        assert c.get(path).status_code == 200
    _refused(_preflight(keyed.gateway, path, SITE, method="GET", headers=""))


# keyless (`serve --no-auth`), the default policy: this machine's pages only


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:5173",
        "http://127.0.0.1:8000",
        "http://[::1]:3000",
        "http://localhost",
        "https://localhost:8443",
        "http://app.localhost:5173",  # browsers resolve .localhost to loopback
    ],
)
def test_keyless_lets_this_machine_s_pages_in(keyless: Gateway, origin: str) -> None:
    r = _preflight(keyless, "/v1/chat/completions", origin)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["vary"] == "Origin"
    with _client(keyless) as c:
        r = c.post("/v1/chat/completions", json=CHAT, headers={"origin": origin})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == origin
    assert "Origin" in r.headers["vary"]
    assert OURS <= _exposed(r)


@pytest.mark.parametrize(
    "origin",
    [
        SITE,
        "http://localhost.evil.example:8080",  # loopback names as a prefix only
        "http://127.0.0.1.evil.example",
        "http://localhost:5173.evil.example",
        "null",  # a sandboxed frame or a file:// page, of any site
    ],
)
def test_keyless_refuses_any_other_site(keyless: Gateway, origin: str) -> None:
    """Else any site its user visits could spend the local gateway (the localhost
    CSRF and DNS-rebinding class of bugs of local model servers)."""
    _refused(_preflight(keyless, "/v1/chat/completions", origin))
    # a "simple" request, which a browser sends without a preflight: refused too,
    # before anything runs (the page could not read the answer, but it would cost)
    with _client(keyless) as c:
        r = c.post(
            "/v1/chat/completions",
            content=orjson.dumps(CHAT),
            headers={"origin": origin, "content-type": "text/plain"},
        )
    _refused(r)
    assert r.headers["x-should-retry"] == "false"
    assert origin in r.json()["error"]["message"]


# keys required and a configured list


def test_listed_extra_headers_may_be_sent(keyed: Keyed, listed: Keyed) -> None:
    """`[server] cors_allow_headers`: a page may send the headers listed there too
    (a tracing header, one a proxy in front reads), in any case."""
    asked = "authorization, x-trace-id, traceparent, x-other"
    r = _preflight(listed.gateway, "/v1/chat/completions", LISTED, headers=asked)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-headers"] == "authorization, x-trace-id, traceparent"
    r = _preflight(keyed.gateway, "/v1/chat/completions", SITE, headers=asked)
    assert r.headers["access-control-allow-headers"] == "authorization"  # not listed there


@pytest.mark.parametrize("origin", [LISTED, "http://a.dev.example:3000", "http://b.a.dev.example"])
def test_a_listed_origin_is_echoed(listed: Keyed, origin: str) -> None:
    r = _preflight(listed.gateway, "/v1/embeddings", origin)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["vary"] == "Origin"
    with _client(listed.gateway) as c:
        r = c.get("/v1/models", headers={"origin": origin, "authorization": f"Bearer {listed.key}"})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        SITE,
        LISTED + ":8443",  # another port is another origin
        "http://app.example.com",  # and another scheme
        "https://app.example.com.evil.example",
        "http://dev.example:3000",  # *. needs a subdomain
        "http://localhost:5173",  # the keyless default does not apply under keys
    ],
)
def test_an_unlisted_origin_is_refused(listed: Keyed, origin: str) -> None:
    _refused(_preflight(listed.gateway, "/v1/chat/completions", origin))
    with _client(listed.gateway) as c:
        r = c.get("/v1/models", headers={"origin": origin, "authorization": f"Bearer {listed.key}"})
    _refused(r)
    assert r.headers["vary"] == "Origin"


def test_two_origins_match_nothing(listed: Keyed) -> None:
    port = listed.gateway.port
    request = (
        f"GET /v1/models HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {listed.key}\r\n"
        f"origin: {LISTED}\r\norigin: https://evil.example\r\nconnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403"), answer[:300]
    assert b"access-control-allow-origin" not in answer.lower()


def test_a_refusal_says_what_no_list_could_allow(keyless: Gateway) -> None:
    """'null' cannot be listed (config refuses it) and two Origin headers match nothing:
    the operator's remedy would be wrong, and the request's own mistake must show."""
    with _client(keyless) as c:
        null = c.get("/v1/models", headers={"origin": "null"})
        two = c.get("/v1/models", headers=[("origin", SITE), ("origin", SITE)])
    for r in (null, two):
        _refused(r)
        message = r.json()["error"]["message"]
        assert "cors_allow_origins" not in message, message
        assert "\x00" not in message, message
    assert "sandboxed" in null.json()["error"]["message"]
    assert "two Origin headers" in two.json()["error"]["message"]
