"""`[server] cors_allow_origins`: patterns checked at start (exit 2), defaults by
auth mode, and kept across reloads as the rest of `[server]`."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from harness.gateway import Gateway
from harness.procs import run_cli
from provocapi import config
from provocapi.cors_origins import LOOPBACK, compile_patterns, default_patterns, describe
from provocapi.netutil import free_port

from .conftest import ADMIN, EXTRA_HEADERS, LISTED_WILD, Keyed

MODEL = """
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


def _server(line: str) -> str:
    return f"[server]\n{line}\n{MODEL}"


@pytest.mark.parametrize(
    ("patterns", "allowed", "refused"),
    [
        (["https://app.example.com"], ["https://app.example.com"],
         ["https://app.example.com:444", "http://app.example.com", "https://x.app.example.com"]),
        (["http://*.example.com:*"], ["http://a.example.com", "http://a.b.example.com:8080"],
         ["http://example.com", "http://a.example.com:123456", "http://aexample.com"]),
        (["http://[::1]:8080", "https://10.0.0.7"], ["http://[::1]:8080", "https://10.0.0.7"],
         ["http://[::1]", "https://10.0.0.70"]),
        (list(LOOPBACK), ["http://localhost:1", "https://127.0.0.1", "http://[::1]:65535",
                          "http://app.localhost:5173", "https://a.b.localhost"],
         ["http://localhost.example", "http://127.0.0.2:80", "file://", "null",
          "http://localhost.evil.example", "http://evil.example/.localhost"]),
        ([], [], ["http://localhost:5173", "https://app.example.com"]),
    ],
)  # fmt: skip
def test_patterns_match_whole_origins(
    patterns: list[str], allowed: list[str], refused: list[str]
) -> None:
    expr = compile_patterns(patterns)
    assert expr is not None
    assert [o for o in allowed if not expr.fullmatch(o.encode())] == []
    assert [o for o in refused if expr.fullmatch(o.encode())] == []


def test_the_defaults_follow_the_auth_mode() -> None:
    assert default_patterns(keyless=False) == ("*",)
    assert compile_patterns(["*"]) is None  # any origin
    assert default_patterns(keyless=True) == LOOPBACK
    assert config.parse(MODEL).server.cors_allow_origins is None  # decided by auth mode


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("https://app.example.com/", "no path"),
        ("https://App.example.com", "lowercase"),
        ("app.example.com", "scheme://host"),
        ("https://app.example.com:443", "drop ':443'"),
        ("http://localhost:80", "drop ':80'"),
        ("http://localhost:99999", "1..65535"),
        ("http://localhost:0", "1..65535"),
        ("https://*", "the host"),
        ("https://app.*.com", "the host"),
        ("http://*.[::1]", "the host"),
        ("https://user@app.example.com", "no path, query or user"),
        ("null", "any site"),
        (" https://app.example.com", "lowercase, no spaces"),
        # browsers send an international name as punycode: as written it never matches
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://*.bücher.example:*", "https://*.xn--bcher-kva.example:*"),
    ],
)
def test_a_bad_pattern_is_refused_with_how_to_write_it(pattern: str, says: str) -> None:
    _refused_at_load("cors_allow_origins", f'["{pattern}"]', says)


def _refused_at_load(field: str, value: str, says: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.parse(_server(f"{field} = {value}"), "t.toml")
    assert f"server.{field}" in str(err.value)
    assert says in str(err.value)


def test_serve_says_which_pages_may_call(keyless: Gateway) -> None:
    assert "browsers:   pages served from this machine" in keyless.output()
    assert describe(None, keyless=False) == "pages of any site"
    assert describe(["*"], keyless=True) == "pages of ANY site may use this keyless gateway"
    assert describe([], keyless=False) == "no web page (cors_allow_origins = [])"


def test_star_goes_alone() -> None:
    with pytest.raises(config.ConfigError, match="list it alone"):
        config.parse(_server('cors_allow_origins = ["*", "https://a.example"]'))


@pytest.mark.parametrize(
    ("line", "names", "says"),
    [
        ('cors_allow_origins = ["https://app.example.com/"]',
         "server.cors_allow_origins: 'https://app.example.com/'", "not even a trailing /"),
        ('cors_allow_headers = ["x-ok", "cookie"]',
         "server.cors_allow_headers: 'cookie'", "never let a page send"),
    ],
)  # fmt: skip
def test_serve_exits_2_on_a_bad_cors_setting(
    tmp_path: Path, line: str, names: str, says: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(_server(line))
    res = run_cli("serve", "--config", str(cfg), "--port", str(free_port()),
                  "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    # the reason, not only the field (an unknown field would name it too)
    assert names in res.stderr
    assert says in res.stderr


def test_a_reload_keeps_the_start_up_origins(listed: Keyed) -> None:
    """As every `[server]` setting: a changed list applies at the next start, and a
    bad one is refused by the reload (the file stays wrong until it is mended)."""
    gw = listed.gateway
    assert gw.config_path is not None
    original = gw.config_path.read_text()
    newcomer = "https://new.example.com"
    admin = {"authorization": f"Bearer {ADMIN}"}
    preflight = {"origin": newcomer, "access-control-request-method": "POST"}
    try:
        with httpx2.Client(base_url=gw.url, trust_env=False, timeout=30.0) as c:
            gw.config_path.write_text(original.replace(f'"{LISTED_WILD}"', f'"{newcomer}"'))
            reloaded = c.post("/admin/reload", headers=admin)
            assert reloaded.status_code == 200
            assert reloaded.json()["not_applied"] == ["server.cors_allow_origins"]
            assert c.options("/v1/chat/completions", headers=preflight).status_code == 403
            still = c.get("/v1/models", headers={"origin": "http://a.dev.example"})
            assert still.status_code == 401, still.text  # admitted, then asked for a key
            gw.config_path.write_text(original.replace(f'"{LISTED_WILD}"', '"https://x/"'))
            r = c.post("/admin/reload", headers=admin)
            assert r.status_code == 400, r.text
            assert "cors_allow_origins" in r.json()["error"]["message"]
    finally:
        gw.config_path.write_text(original)


@pytest.mark.parametrize(
    ("names", "says"),
    [
        ('["x trace"]', "not a header name"),
        ('[""]', "not a header name"),
        ('["x-trace:"]', "not a header name"),
        ('["*"]', "list the names"),
        ('["Cookie"]', "never let a page send"),
        ('["sec-fetch-mode"]', "never let a page send"),
        ('["proxy-authorization"]', "never let a page send"),
    ],
)
def test_a_bad_extra_header_is_refused_with_the_reason(names: str, says: str) -> None:
    _refused_at_load("cors_allow_headers", names, says)


def test_extra_headers_are_kept_as_written() -> None:
    cfg = config.parse(_server('cors_allow_headers = ["X-Trace-Id", "traceparent"]'))
    assert cfg.server.cors_allow_headers == ["X-Trace-Id", "traceparent"]
    assert config.parse(MODEL).server.cors_allow_headers == []


def test_a_reload_keeps_the_start_up_extra_headers(listed: Keyed) -> None:
    gw = listed.gateway
    assert gw.config_path is not None
    original = gw.config_path.read_text()
    admin = {"authorization": f"Bearer {ADMIN}"}
    preflight = {
        "origin": "http://a.dev.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-new, x-trace-id",
    }
    try:
        with httpx2.Client(base_url=gw.url, trust_env=False, timeout=30.0) as c:
            gw.config_path.write_text(original.replace(EXTRA_HEADERS, '["x-new"]'))
            reloaded = c.post("/admin/reload", headers=admin)
            assert reloaded.status_code == 200, reloaded.text
            assert reloaded.json()["not_applied"] == ["server.cors_allow_headers"]
            r = c.options("/v1/chat/completions", headers=preflight)
            assert r.headers["access-control-allow-headers"] == "x-trace-id"
            gw.config_path.write_text(original.replace(EXTRA_HEADERS, '["x new"]'))
            r = c.post("/admin/reload", headers=admin)
            assert r.status_code == 400, r.text
            assert "cors_allow_headers" in r.json()["error"]["message"]
    finally:
        gw.config_path.write_text(original)
