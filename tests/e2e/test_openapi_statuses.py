"""Every (route, status) pair that /openapi.json lists is provoked against a running gateway.

The document's error statuses come from the catalogue entries each route declares
(`route_errors.py`); this test reads the document, provokes each listed pair at least
once and fails on a pair nobody provoked, so a status cannot be documented without
being real. The answer's `code` must be one the document names for that pair.

Most pairs use the session stack. A second gateway (`strict`) covers the rest: a tenant
limited to 1 request a minute (429), a 0.5 s body deadline (408), an embedding model
whose worker is down (503) or slow (504), a usage store that cannot be reached (503 on
/v1/usage), and no admin key (403 on /admin/reload).
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import socket
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import orjson
import pytest
from harness.procs import PY, Proc, create_key
from harness.waiting import wait_healthy
from provocapi.lora_files import CONFIG_FILE, WEIGHTS_FILE, write_zero_adapter
from provocapi.netutil import free_ports

from .conftest import ADMIN_KEY, DOWN_MODEL, MAX_BODY_BYTES, TIMEOUT_MODEL, Stack

CHAT = "llama-3.1-8b-instruct"
EMBED = "bge-m3"
EMBED_DOWN = "embed-down"
TODAY = dt.datetime.now(dt.UTC).date().isoformat()
USAGE_QUERY = f"/v1/usage?start_date={TODAY}&end_date={TODAY}"
STRICT_FILE_BYTES = 1024


@dataclass
class Strict:
    url: str
    key: str  # unlimited
    tight_key: str  # 1 request a minute


@dataclass
class Answer:
    status: int
    code: str | None


@pytest.fixture(scope="module")
def strict(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Strict]:
    root = tmp_path_factory.mktemp("strict")
    data_dir = root / "data"
    port, closed_store, closed_worker = free_ports(3)
    config = root / "provocapi.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [server]
            body_read_timeout_s = 0.5
            connect_timeout_s = 1.0

            [batch]
            max_file_bytes = {STRICT_FILE_BYTES}

            [adapters]
            max_per_tenant = 0

            [usage]
            store = "clickhouse"
            clickhouse_url = "http://127.0.0.1:{closed_store}"
            clickhouse_timeout_s = 1.0

            [tiers.tight]
            key_rpm = 1

            [tenants.tight]
            tier = "tight"

            [[models]]
            id = "{CHAT}"
            kind = "chat"
            family = "llama3"
            workers = ["{stack.sims[CHAT]}"]

            [[models]]
            id = "{EMBED}"
            kind = "embedding"
            dimensions = 1024
            request_timeout_s = 1.0
            workers = ["{stack.sims[EMBED]}"]

            [[models]]
            id = "{EMBED_DOWN}"
            kind = "embedding"
            dimensions = 1024
            workers = ["http://127.0.0.1:{closed_worker}"]
            """
        )
    )
    key = create_key(data_dir, "free")
    tight_key = create_key(data_dir, "tight")
    gateway = Proc(
        "strict-gateway",
        [
            PY, "-m", "provocapi", "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
        ],
        root,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/health", gateway, 30.0)
        yield Strict(url, key, tight_key)
    finally:
        gateway.stop()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _body(path: str, model: str, text: str) -> dict[str, object]:
    if path == "/v1/chat/completions":
        return {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4}
    if path == "/v1/completions":
        return {"model": model, "prompt": text, "max_tokens": 4}
    return {"model": model, "input": text}


MULTIPART = "multipart/form-data; boundary=XX"


def _trickle(
    base: str, path: str, key: str, content_type: str = "application/json", start: str = "{"
) -> Answer:
    """Headers and part of the body, then silence: the body deadline answers 408."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{start}".encode()
        )
        data = b""
        while chunk := s.recv(65536):  # the gateway closes the connection after the 408
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1.1 (\d{3})", head)
    assert m, data[:200]
    return Answer(int(m.group(1)), orjson.loads(body)["error"]["code"])


Provoker = Callable[[httpx2.Client, httpx2.Client, Stack, Strict], Answer]


def _answer(r: httpx2.Response) -> Answer:
    code = None
    if r.headers.get("content-type", "").startswith("application/json"):
        err = r.json().get("error") if isinstance(r.json(), dict) else None
        code = err.get("code") if isinstance(err, dict) else None
    return Answer(r.status_code, code)


def _generation(path: str) -> dict[int, Provoker]:
    def post(
        model: str, text: str, *, main: bool = True, key: str | None = None
    ) -> Callable[[httpx2.Client, httpx2.Client, Stack, Strict], Answer]:
        def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
            client = c if main else s
            k = key or (stack.key if main else strict.key)
            return _answer(client.post(path, json=_body(path, model, text), headers=_bearer(k)))

        return go

    embeds = path == "/v1/embeddings"
    model = EMBED if embeds else CHAT

    def too_large(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        big = orjson.dumps(_body(path, model, "x" * (MAX_BODY_BYTES + 1)))
        headers = {**_bearer(stack.key), "Content-Type": "application/json"}
        return _answer(c.post(path, content=big, headers=headers))

    def rate_limited(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        last = Answer(0, None)
        for _ in range(2):  # the first may be the minute's one request
            headers = _bearer(strict.tight_key)
            last = _answer(s.post(path, json=_body(path, model, "hi"), headers=headers))
            if last.status == 429:
                break
        return last

    return {
        400: lambda c, s, stack, strict: _answer(
            c.post(path, content=b"{not json", headers=_bearer(stack.key))
        ),
        401: lambda c, s, stack, strict: _answer(c.post(path, json=_body(path, model, "hi"))),
        404: post("no-such-model", "hi"),
        405: _wrong_method(path),  # (a GET of chat completions is OpenAI's stored list)
        408: lambda c, s, stack, strict: _trickle(strict.url, path, strict.key),
        413: too_large,
        415: _gzipped(path),
        422: post(model, "hi [sim:status=422]"),
        429: rate_limited,
        502: post(model, "hi [sim:status=500]"),
        503: post(EMBED_DOWN, "hi", main=False) if embeds else post(DOWN_MODEL, "hi"),
        504: post(EMBED, "x [sim:delay_ms=3000]", main=False)
        if embeds
        else post(TIMEOUT_MODEL, "slow [sim:delay_ms=6000]"),
    }


def _get(path: str, key: str | None = "main", **kw: object) -> Provoker:
    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        headers = {} if key is None else _bearer(stack.key if key == "main" else key)
        return _answer(c.get(path, headers=headers, **kw))  # type: ignore[arg-type]

    return go


def _wrong_method(path: str) -> Provoker:
    return lambda c, s, stack, strict: _answer(c.delete(path, headers=_bearer(stack.key)))


def _bad_reload(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
    good = stack.config_path.read_bytes()
    try:
        stack.config_path.write_text("[server\n")  # not TOML: the reload is refused
        return _answer(c.post("/admin/reload", headers=_bearer(ADMIN_KEY)))
    finally:
        stack.config_path.write_bytes(good)


def _put(path: str) -> Provoker:
    return lambda c, s, stack, strict: _answer(c.put(path, headers=_bearer(stack.key)))


def _anon(method: str, path: str) -> Provoker:
    return lambda c, s, stack, strict: _answer(c.request(method, path))


def _call(method: str, path: str, **kw: object) -> Provoker:
    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        return _answer(c.request(method, path, headers=_bearer(stack.key), **kw))  # type: ignore[arg-type]

    return go


def _gzipped(path: str, content_type: str = "application/json") -> Provoker:
    """A compressed body: refused (415) before anything reads it as plain bytes."""

    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        headers = {
            **_bearer(stack.key),
            "Content-Type": content_type,
            "Content-Encoding": "gzip",
        }
        return _answer(c.post(path, content=gzip.compress(b"{}"), headers=headers))

    return go


def _slow_lines() -> bytes:
    line = {"custom_id": "slow", "method": "POST", "url": "/v1/chat/completions",
            "body": _body("/v1/chat/completions", CHAT, "wait [sim:delay_ms=3000]")}  # fmt: skip
    return orjson.dumps(line) + b"\n"


def _running_batch(c: httpx2.Client, key: str) -> tuple[str, str]:
    """(input file id, batch id) of a batch that runs for a few seconds."""
    r = c.post("/v1/batch?endpoint=/v1/chat/completions", content=_slow_lines(),
               headers=_bearer(key))  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["input_file_id"], r.json()["id"]


def _delete_in_use(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
    file_id, batch_id = _running_batch(c, stack.key)
    try:
        return _answer(c.delete(f"/v1/files/{file_id}", headers=_bearer(stack.key)))
    finally:
        c.post(f"/v1/batches/{batch_id}/cancel", headers=_bearer(stack.key))


def _output_too_early(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
    _, batch_id = _running_batch(c, stack.key)
    try:
        return _answer(c.get(f"/v1/batch/{batch_id}/output", headers=_bearer(stack.key)))
    finally:
        c.post(f"/v1/batches/{batch_id}/cancel", headers=_bearer(stack.key))


def _cancel_ended(prefix: str) -> Provoker:
    """409: cancelling a batch that failed (its file is not JSONL)."""

    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        r = c.post("/v1/batch?endpoint=/v1/chat/completions", content=b"{not json\n",
                   headers=_bearer(stack.key))  # fmt: skip
        assert r.status_code == 200, r.text
        batch_id = r.json()["id"]
        deadline = time.monotonic() + 20
        while c.get(f"/v1/batch/{batch_id}", headers=_bearer(stack.key)).json()["status"] != (
            "failed"
        ):
            assert time.monotonic() < deadline, "the batch did not fail"
            time.sleep(0.05)
        return _answer(c.post(f"{prefix}/{batch_id}/cancel", headers=_bearer(stack.key)))

    return go


def _upload_too_large(path: str) -> Provoker:
    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        big = b"x" * (STRICT_FILE_BYTES + 1)
        files = {"file": ("big.jsonl", big)}
        data = {"purpose": "batch", "endpoint": "/v1/chat/completions"}
        return _answer(s.post(path, files=files, data=data, headers=_bearer(strict.key)))

    return go


def _by_id(method: str, missing: str) -> dict[int, Provoker]:
    """401, 404 and 405 of a route on one file or batch."""
    return {
        401: _anon(method, missing),
        404: _call(method, missing),
        405: _put(missing),
    }


def _listing(path: str) -> dict[int, Provoker]:
    return {400: _get(path + "?limit=0"), 401: _get(path, None), 405: _put(path)}


BATCH_PROVOKE: dict[tuple[str, str], dict[int, Provoker]] = {
    ("/v1/files", "POST"): {
        400: _call("POST", "/v1/files", json={"purpose": "batch"}),
        401: _anon("POST", "/v1/files"),
        405: _put("/v1/files"),
        413: _upload_too_large("/v1/files"),
        415: _gzipped("/v1/files", MULTIPART),
        408: lambda c, s, stack, strict: _trickle(
            strict.url, "/v1/files", strict.key, MULTIPART, "--XX\r\n"
        ),
    },
    ("/v1/files", "GET"): {**_listing("/v1/files"), 404: _get("/v1/files?after=file-nope")},
    ("/v1/files/{file_id}", "GET"): _by_id("GET", "/v1/files/file-nope"),
    ("/v1/files/{file_id}", "DELETE"): {
        **_by_id("DELETE", "/v1/files/file-nope"),
        409: _delete_in_use,
    },
    ("/v1/files/{file_id}/content", "GET"): _by_id("GET", "/v1/files/file-nope/content"),
    ("/v1/batches", "POST"): {
        400: _call("POST", "/v1/batches", content=b"{not json"),
        401: _anon("POST", "/v1/batches"),
        404: _call(
            "POST",
            "/v1/batches",
            json={
                "input_file_id": "file-nope",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        ),
        405: _put("/v1/batches"),
        408: lambda c, s, stack, strict: _trickle(strict.url, "/v1/batches", strict.key),
        413: _call("POST", "/v1/batches", content=b"x" * (MAX_BODY_BYTES + 1)),
        415: _gzipped("/v1/batches"),
    },
    ("/v1/batches", "GET"): {**_listing("/v1/batches"), 404: _get("/v1/batches?after=nope")},
    ("/v1/batches/{batch_id}", "GET"): _by_id("GET", "/v1/batches/batch_nope"),
    ("/v1/batches/{batch_id}/cancel", "POST"): {
        **_by_id("POST", "/v1/batches/batch_nope/cancel"),
        409: _cancel_ended("/v1/batches"),
    },
    ("/v1/batch", "POST"): {
        400: _call("POST", "/v1/batch", content=_slow_lines()),  # no endpoint
        401: _anon("POST", "/v1/batch"),
        405: _put("/v1/batch"),
        413: _upload_too_large("/v1/batch"),
        415: _gzipped("/v1/batch?endpoint=/v1/chat/completions", "application/jsonl"),
        408: lambda c, s, stack, strict: _trickle(
            strict.url, "/v1/batch?endpoint=/v1/chat/completions", strict.key
        ),
    },
    ("/v1/batch", "GET"): {**_listing("/v1/batch"), 404: _get("/v1/batch?after=nope")},
    ("/v1/batch/{batch_id}", "GET"): _by_id("GET", "/v1/batch/batch_nope"),
    ("/v1/batch/{batch_id}/cancel", "POST"): {
        **_by_id("POST", "/v1/batch/batch_nope/cancel"),
        409: _cancel_ended("/v1/batch"),
    },
    ("/v1/batch/{batch_id}/output", "GET"): {
        **_by_id("GET", "/v1/batch/batch_nope/output"),
        409: _output_too_early,
    },
}


def _adapter_files(tmp: Path, **config: object) -> dict[str, tuple[str, bytes, str]]:
    write_zero_adapter(tmp, {"q_proj": (4096, 4096)}, rank=1, layers=1)
    cfg = {**orjson.loads((tmp / CONFIG_FILE).read_bytes()), **config}
    return {
        "adapter_config": ("adapter_config.json", orjson.dumps(cfg), "application/json"),
        "adapter_model": ("adapter_model.safetensors", (tmp / WEIGHTS_FILE).read_bytes(), "x"),
    }


def _upload(name: str = "probe", base: str = CHAT, **config: object) -> Provoker:
    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        with tempfile.TemporaryDirectory() as tmp:
            files = _adapter_files(Path(tmp), **config)
        return _answer(
            c.post(
                "/v1/adapters/upload",
                data={"name": name, "base_model": base},
                files=files,
                headers=_bearer(stack.key),
            )
        )

    return go


def _upload_twice(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
    first = c.post(
        "/v1/adapters/upload",
        data={"name": "twice", "base_model": CHAT},
        files=_adapter_files(Path(tempfile.mkdtemp())),
        headers=_bearer(stack.key),
    )
    assert first.status_code == 200, first.text
    try:
        return _upload("twice")(c, s, stack, strict)
    finally:
        c.delete(f"/v1/adapters/{first.json()['id']}", headers=_bearer(stack.key))


def _upload_raw(body: bytes) -> Provoker:
    def go(c: httpx2.Client, s: httpx2.Client, stack: Stack, strict: Strict) -> Answer:
        headers = {**_bearer(stack.key), "Content-Type": "multipart/form-data; boundary=XX"}
        return _answer(c.post("/v1/adapters/upload", content=body, headers=headers))

    return go


PROVOKE: dict[tuple[str, str], dict[int, Provoker]] = {
    **BATCH_PROVOKE,
    ("/v1/adapters", "GET"): {
        400: _get("/v1/adapters?limit=0"),
        401: _get("/v1/adapters", None),
        404: _get("/v1/adapters?after=adp_nope"),
        405: _wrong_method("/v1/adapters"),
    },
    ("/v1/adapters", "POST"): {
        400: lambda c, s, stack, strict: _answer(
            c.post("/v1/adapters", json={"name": "x"}, headers=_bearer(stack.key))
        ),
        401: lambda c, s, stack, strict: _answer(c.post("/v1/adapters", json={})),
        403: lambda c, s, stack, strict: _answer(
            s.post(
                "/v1/adapters",
                json={"name": "q", "base_model": CHAT, "repo": "o/r"},
                headers=_bearer(strict.key),
            )
        ),
        405: _wrong_method("/v1/adapters"),
        408: lambda c, s, stack, strict: _trickle(strict.url, "/v1/adapters", strict.key),
        409: lambda c, s, stack, strict: _answer(
            c.post(
                "/v1/adapters",
                json={"name": "sql", "base_model": CHAT, "repo": "o/r"},  # the operator's
                headers=_bearer(stack.key),
            )
        ),
        413: lambda c, s, stack, strict: _answer(
            c.post(
                "/v1/adapters",
                content=b" " * (MAX_BODY_BYTES + 1),
                headers=_bearer(stack.key),
            )
        ),
        415: _gzipped("/v1/adapters"),
    },
    ("/v1/adapters/upload", "POST"): {
        400: _upload(r=2),  # the config's rank disagrees with the tensors
        401: lambda c, s, stack, strict: _answer(c.post("/v1/adapters/upload")),
        403: lambda c, s, stack, strict: _answer(
            s.post("/v1/adapters/upload", headers=_bearer(strict.key))
        ),
        405: _get("/v1/adapters/upload"),
        409: _upload_twice,
        413: _upload_raw(b"--XX\r\n" + b"x" * (MAX_BODY_BYTES + 1)),
        415: _gzipped("/v1/adapters/upload", MULTIPART),
        # the stack's body deadline (BODY_TIMEOUT_S): the strict gateway refuses
        # uploads (its adapter quota is 0) before reading a byte
        408: lambda c, s, stack, strict: _trickle(
            stack.root_url, "/v1/adapters/upload", stack.key, MULTIPART, "--XX\r\n"
        ),
    },
    ("/v1/adapters/{adapter_id}", "GET"): {
        401: _get("/v1/adapters/adp_none", None),
        404: _get("/v1/adapters/adp_none"),
        405: lambda c, s, stack, strict: _answer(
            c.post("/v1/adapters/adp_none", headers=_bearer(stack.key))
        ),
    },
    ("/v1/adapters/{adapter_id}", "DELETE"): {
        401: lambda c, s, stack, strict: _answer(c.delete("/v1/adapters/adp_none")),
        404: lambda c, s, stack, strict: _answer(
            c.delete("/v1/adapters/adp_none", headers=_bearer(stack.key))
        ),
        405: lambda c, s, stack, strict: _answer(
            c.put("/v1/adapters/adp_none", headers=_bearer(stack.key))
        ),
    },
    ("/v1/chat/completions", "POST"): _generation("/v1/chat/completions"),
    ("/v1/completions", "POST"): _generation("/v1/completions"),
    ("/v1/embeddings", "POST"): _generation("/v1/embeddings"),
    ("/v1/models", "GET"): {
        401: _get("/v1/models", None),
        405: _wrong_method("/v1/models"),
    },
    ("/v1/models/{model}", "GET"): {
        401: _get(f"/v1/models/{CHAT}", None),
        404: _get("/v1/models/no-such-model"),
        405: _wrong_method(f"/v1/models/{CHAT}"),
    },
    ("/v1/usage", "GET"): {
        400: _get("/v1/usage?end_date=" + TODAY),
        401: _get(USAGE_QUERY, None),
        403: _get(USAGE_QUERY + "&tenant=someone-else"),
        405: _wrong_method(USAGE_QUERY),
        503: lambda c, s, stack, strict: _answer(s.get(USAGE_QUERY, headers=_bearer(strict.key))),
    },
    ("/admin/reload", "POST"): {
        400: _bad_reload,
        401: lambda c, s, stack, strict: _answer(c.post("/admin/reload", headers=_bearer("x"))),
        403: lambda c, s, stack, strict: _answer(s.post("/admin/reload", headers=_bearer("x"))),
        405: lambda c, s, stack, strict: _answer(c.get("/admin/reload")),
    },
    ("/health", "GET"): {405: _wrong_method("/health")},
    ("/health/ready", "GET"): {
        400: _get("/health/ready?model=%FF", None),
        404: _get("/health/ready?model=no-such-model", None),
        405: _wrong_method("/health/ready"),
        503: _get(f"/health/ready?model={DOWN_MODEL}", None),
    },
    ("/metrics", "GET"): {405: _wrong_method("/metrics")},
    ("/openapi.json", "GET"): {405: _wrong_method("/openapi.json")},
}


def _codes(response: dict[str, object]) -> set[str]:
    """The codes a response's description names (`code`, ...)."""
    return set(re.findall(r"`([a-z_]+)`", str(response.get("description", ""))))


def test_every_documented_status_is_provoked(stack: Stack, strict: Strict) -> None:
    # a fresh connection per request: a kept-alive one may meet the server's idle
    # timeout (header_read_timeout_s) between two provocations and be cut under it
    fresh = httpx2.Limits(max_keepalive_connections=0)
    with (
        httpx2.Client(base_url=stack.root_url, timeout=30.0, trust_env=False, limits=fresh) as c,
        httpx2.Client(base_url=strict.url, timeout=30.0, trust_env=False, limits=fresh) as s,
    ):
        doc = c.get("/openapi.json").json()
        pairs = [
            (path, method.upper(), int(status), response)
            for path, ops in doc["paths"].items()
            for method, op in ops.items()
            for status, response in op["responses"].items()
            if int(status) >= 400
        ]
        assert len(pairs) > 40, pairs
        missing: list[str] = []
        wrong: list[str] = []
        for path, method, status, response in pairs:
            provoke = PROVOKE.get((path, method), {}).get(status)
            if provoke is None:
                missing.append(f"{method} {path} {status}")
                continue
            started = time.monotonic()
            got = provoke(c, s, stack, strict)
            took = time.monotonic() - started
            codes = _codes(response)
            if got.status != status or (codes and got.code not in codes):
                wrong.append(
                    f"{method} {path}: wanted {status} {sorted(codes)}, got {got} ({took:.1f} s)"
                )
    assert not missing and not wrong, "\n".join(
        [f"documented but never provoked: {missing}", *wrong]
    )
