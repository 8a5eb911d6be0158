"""Keyless local mode: `serve --no-auth` / `[server] auth = "none"`."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx2
import openai
import pytest
from harness.gateway import Gateway
from harness.procs import run_cli
from harness.sims import sim_url
from harness.waiting import poll
from provocapi import config as config_mod
from provocapi.asgi import Request
from provocapi.errors import ApiError
from provocapi.gateway import _addressed_here
from provocapi.launcher import NO_AUTH_PUBLIC_EXIT, is_loopback, keyless_refusal
from provocapi.loopback import is_local_host_header
from provocapi.netutil import free_port

MODEL = "llama-3.1-8b-instruct"
ADMIN = "admin-no-auth-3b1f"
PUBLIC = "192.0.2.1"


def _config(worker: str, auth: str = "") -> str:
    return f"""\
        [server]
        admin_key = "{ADMIN}"
        {auth}

        [usage]
        flush_interval_ms = 100

        [[models]]
        id = "{MODEL}"
        kind = "chat"
        family = "llama3"
        workers = ["{worker}"]
        """


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    args = ("--output-tokens", "4", "--ttft-ms", "0")
    with sim_url(MODEL, tmp_path_factory.mktemp("sim"), *args) as url:
        yield url


@pytest.fixture(scope="module")
def keyless(sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("keyless"), _config(sim), args=["--no-auth"])
    try:
        yield gw.start()
    finally:
        gw.stop()


def _chat(client: openai.OpenAI, stream: bool = False) -> str:
    if stream:
        chunks = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    return resp.choices[0].message.content or ""


def test_any_key_or_none_is_tenant_local(keyless: Gateway) -> None:
    for key in ("anything", "pk-prov-not-a-real-key"):
        with openai.OpenAI(base_url=keyless.url + "/v1", api_key=key, max_retries=0) as c:
            assert _chat(c)
            assert _chat(c, stream=True)
            assert MODEL in {m.id for m in c.models.list()}
    with httpx2.Client(base_url=keyless.url, trust_env=False, timeout=30.0) as raw:
        r = raw.post("/v1/chat/completions", json={"model": MODEL, "max_tokens": 4,
                     "messages": [{"role": "user", "content": "no key at all"}]})  # fmt: skip
        assert r.status_code == 200, r.text
        # usage is recorded for tenant `local` and readable without a key
        today = dt.datetime.now(dt.UTC).date().isoformat()
        query = f"/v1/usage?start_date={today}&end_date={today}"

        def requests() -> int:
            body = raw.get(query).json()
            return sum(int(row.get("requests", 0)) for row in body.get("data", []))

        poll(requests, lambda n: n >= 5, timeout_s=15)
        assert raw.get(query + "&tenant=someone-else").status_code == 403
        # the admin key is still needed for admin routes, and still works
        assert raw.post("/admin/reload").status_code == 401
        assert raw.post("/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 401
        ok = raw.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert ok.status_code == 200, ok.text
        other = raw.get(query + "&tenant=local", headers={"Authorization": f"Bearer {ADMIN}"})
        assert other.status_code == 200


@pytest.mark.parametrize("how", ["flag", "config"])
def test_a_public_address_is_refused(sim: str, tmp_path: Path, how: str) -> None:
    config = tmp_path / "provocapi.toml"
    auth = 'auth = "none"' if how == "config" else ""
    config.write_text(_config(sim, auth).replace("        ", ""))
    flags = ["--no-auth"] if how == "flag" else []
    # a documentation address (TEST-NET-1) no interface has: were the check to let it
    # through, the bind would fail too, and nothing would ever listen off loopback
    res = run_cli("serve", "--config", str(config), "--host", PUBLIC, "--port", str(free_port()),
                  "--data-dir", str(tmp_path / "data"), *flags)  # fmt: skip
    assert res.returncode == NO_AUTH_PUBLIC_EXIT, res.stdout + res.stderr
    assert "keyless mode" in res.stderr and "--unsafe-no-auth-public" in res.stderr
    assert PUBLIC in res.stderr
    assert "listening" not in res.stdout


def test_which_addresses_are_loopback() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "example.com", "192.168.1.1", "::ffff:10.0.0.5"):
        assert not is_loopback(host), host
    keyless = config_mod.parse('[server]\nauth = "none"\n')
    keyed = config_mod.parse("")
    assert keyless_refusal(keyless, "0.0.0.0", unsafe_public=False) is not None
    assert keyless_refusal(keyless, "0.0.0.0", unsafe_public=True) is None
    assert keyless_refusal(keyless, "127.0.0.1", unsafe_public=False) is None
    assert keyless_refusal(keyed, "0.0.0.0", unsafe_public=False) is None


def _models(url: str, host: str, key: str | None = None) -> httpx2.Response:
    headers = {"Host": host}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    with httpx2.Client(base_url=url, trust_env=False, timeout=30.0) as raw:
        return raw.get("/v1/models", headers=headers)


def test_keyless_answers_only_calls_addressed_to_this_machine(keyless: Gateway) -> None:
    port = keyless.url.rsplit(":", 1)[1]
    # DNS rebinding: a page whose own name now resolves to 127.0.0.1 sends that name
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}",
                 f"127.0.0.1.nip.io:{port}", f"[2001:db8::1]:{port}"):  # fmt: skip
        r = _models(keyless.url, host)
        assert r.status_code == 403, (host, r.text)
        err = r.json()["error"]
        assert (err["type"], err["code"]) == ("permission_error", "host_not_allowed")
        assert host in err["message"]
        # nothing ran: no chat either
        with httpx2.Client(base_url=keyless.url, trust_env=False, timeout=30.0) as raw:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
            chat = raw.post("/v1/chat/completions", headers={"Host": host}, json=body)
        assert chat.status_code == 403, chat.text
    for host in (f"localhost:{port}", "localhost", f"LOCALHOST:{port}", f"localhost.:{port}",
                 f"app.localhost:{port}", f"127.0.0.1:{port}", f"127.9.9.9:{port}",
                 f"[::1]:{port}", "[::1]"):  # fmt: skip
        r = _models(keyless.url, host)
        assert r.status_code == 200, (host, r.text)
    # probes and scrapers name the gateway as they know it
    with httpx2.Client(base_url=keyless.url, trust_env=False, timeout=30.0) as raw:
        assert raw.get("/health", headers={"Host": "lb.internal"}).status_code == 200


# a port that is no port names no machine (RFC 9112 3.2: an invalid Host is refused)
MALFORMED = ("localhost:abc", "localhost:", "localhost:+80", "localhost: 80", "localhost:8080x",
             "localhost:99999", "localhost:0", "localhost:123456", "127.0.0.1:abc",
             "[::1]:abc", "[::1]:", "app.localhost:-1")  # fmt: skip


def test_keyless_refuses_a_host_whose_port_is_malformed(keyless: Gateway) -> None:
    """`Host: localhost:abc` was taken as localhost: only the part before the last `:`
    was looked at. A Host no client that connected here would send is refused, as a
    missing one is (403 host_not_allowed, before anything runs)."""
    for host in MALFORMED:
        r = _models(keyless.url, host)
        assert r.status_code == 403, (host, r.text)
        err = r.json()["error"]
        assert err["code"] == "host_not_allowed" and host.strip() in err["message"], err
    for host in ("localhost:1", "localhost:65535", "[::1]:8080", "127.0.0.1:08080"):
        assert is_local_host_header(host.encode()), host
    for host in MALFORMED:
        assert not is_local_host_header(host.encode()), host


def test_with_keys_the_host_is_not_checked(sim: str, tmp_path: Path) -> None:
    gw = Gateway(tmp_path, _config(sim)).start()
    try:
        key = gw.create_key("acme")
        r = _models(gw.url, "gateway.internal:443", key)
        assert r.status_code == 200, r.text
        assert _models(gw.url, "gateway.internal:443").status_code == 401
    finally:
        gw.stop()


def test_on_ipv6_loopback_the_printed_url_works(sim: str, tmp_path: Path) -> None:
    """`serve --host ::1` printed http://::1:PORT/v1, which no client parses."""
    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1) to listen on")
    gw = Gateway(tmp_path, _config(sim), args=["--no-auth", "--host", "::1"])
    gw.launch()
    try:
        out = poll(gw.output, lambda o: "use:" in o or not gw.alive(), timeout_s=60)
        base = f"http://[::1]:{gw.port}/v1"
        assert f"listening on {base} " in out, out
        assert f"OpenAI(base_url='{base}'" in out, out
        r = poll(lambda: _get_models(base), lambda r: r is not None, timeout_s=60)
        assert r is not None and r.status_code == 200, r
    finally:
        gw.stop()


def _ipv6_loopback() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


def _get_models(base: str) -> httpx2.Response | None:
    try:
        return httpx2.get(f"{base}/models", timeout=5, trust_env=False)
    except httpx2.TransportError:
        return None  # not listening yet


def test_keyless_refuses_a_call_that_names_no_host(keyless: Gateway) -> None:
    """HTTP/1.0 may leave Host out: a call that names no machine is not one addressed
    to this one, and the refusal says what was missing."""
    port = int(keyless.url.rsplit(":", 1)[1])
    for head in (b"GET /v1/models HTTP/1.0\r\n\r\n", b"GET /v1/models HTTP/1.1\r\nHost:\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
                if b'"code":"host_not_allowed"}}' in answer:
                    break
        assert answer.split(b"\r\n", 1)[0].endswith(b"403 Forbidden"), answer
        assert b"(no Host header)" in answer, answer


@pytest.mark.parametrize("server", ["0.0.0.0", "::"])
def test_on_all_addresses_calls_over_loopback_are_still_checked(server: str) -> None:
    """`--unsafe-no-auth-public --host 0.0.0.0`: Granian's scope names 0.0.0.0 as the
    server, whichever address the client reached; a call that came over loopback
    (DNS rebinding in this machine's browser) must still name this machine. (The
    scope as Granian gives it: tests bind nothing wider than loopback.)"""

    def call(client: str, host: bytes) -> None:
        scope = {"server": (server, "8080"), "client": (client, "50000"),
                 "headers": [(b"host", host)]}  # fmt: skip
        _addressed_here(cast(Request, SimpleNamespace(scope=scope)))

    for client in ("127.0.0.1", "::ffff:127.0.0.1", "::1"):
        with pytest.raises(ApiError) as refused:
            call(client, b"evil.example")
        assert refused.value.code == "host_not_allowed"
        call(client, b"localhost:8080")  # no refusal
    call("192.0.2.7", b"evil.example")  # from the network: as the flag allows
