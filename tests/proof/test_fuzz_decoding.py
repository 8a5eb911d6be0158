"""Structure-aware fuzzing of request decoding, against the running gateway.

For each endpoint a valid request is the seed; Hypothesis mutates it the ways a
hostile or broken client does: values of the wrong type, numbers no float holds
(1e309, 2**64, -0), odd Unicode (lone surrogates as JSON escapes, NUL, RTL marks,
4-byte characters) in keys and values, nesting hundreds deep, duplicate keys, bodies
cut short; multipart uploads get broken boundaries, odd filenames and repeated parts;
query strings and path ids get the same text.

Verdict for every request: a 2xx or a 4xx, never 5xx; no traceback in the body; every
4xx carries OpenAI's error envelope; and the gateway's log (its stderr) gained no
ERROR or Traceback line. Derandomized; PROVOCAPI_FUZZ_EXAMPLES sizes it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import EXAMPLES, ProofStack

FUZZ_EXAMPLES = EXAMPLES or 60
STATUSES: Counter[tuple[str, int]] = Counter()


# ----------------------------------------------------------------- a JSON tree we can break


@dataclass
class Raw:
    """A token written as is: numbers no float holds, escapes json.dumps never writes."""

    text: str


@dataclass
class Obj:
    pairs: list[tuple[Any, Any]]  # keys may repeat; a key may be a Raw string token


def tree(value: Any) -> Any:
    if isinstance(value, dict):
        return Obj([(k, tree(v)) for k, v in value.items()])
    if isinstance(value, list):
        return [tree(v) for v in value]
    return value


def dump(node: Any) -> str:
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Obj):
        return "{" + ",".join(f"{dump(k)}:{dump(v)}" for k, v in node.pairs) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dump(v) for v in node) + "]"
    if type(node) is int:  # any size: JSON has no limit, orjson stops at 64 bits
        return str(node)
    return orjson.dumps(node).decode()


def slots(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place a value sits: (), (key index,), (key index, list index)..."""
    out = [path]
    if isinstance(node, Obj):
        for i, (_, v) in enumerate(node.pairs):
            out += slots(v, (*path, i))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += slots(v, (*path, i))
    return out


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for i in path:
        node = node.pairs[i][1] if isinstance(node, Obj) else node[i]
    return node


def put(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = get(node, path[:-1])
    i = path[-1]
    if isinstance(parent, Obj):
        parent.pairs[i] = (parent.pairs[i][0], value)
    else:
        parent[i] = value
    return node


HUGE = ["1e309", "-1e309", "18446744073709551616", "-0", "-0.0", "1e-400", "9" * 400,
        "123456789012345678901234567890.5", "0e99999", "-9223372036854775809"]  # fmt: skip
ODD_ESCAPES = ["\\ud800", "\\udfff", "\\ud83d", "\\u0000", "\\u202e", "\\ufeff", "\\uffff"]
ODD_CHARS = '\x00\u202e\u200f\ufeff\U0001f600\U0010ffff\u0301\x7f\n\t"\\/'
odd_text = st.text(alphabet=st.sampled_from(list(ODD_CHARS) + list("ab :{}[]")), max_size=12)


@st.composite
def odd_string(draw: st.DrawFn) -> Any:
    """A JSON string token with odd characters, some as escapes (lone surrogates)."""
    parts = draw(st.lists(st.one_of(odd_text.map(lambda t: orjson.dumps(t).decode()[1:-1]),
                                    st.sampled_from(ODD_ESCAPES)), max_size=5))  # fmt: skip
    return Raw('"' + "".join(parts) + '"')


scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HUGE).map(Raw),
    odd_string(),
)
wrong_type = st.one_of(scalar, st.just([]), st.just(Obj([])), st.lists(scalar, max_size=3))


@st.composite
def nested(draw: st.DrawFn, inner: Any) -> Any:
    depth = draw(st.integers(1, 300))
    as_list = draw(st.booleans())
    for _ in range(depth):
        inner = [inner] if as_list else Obj([("a", inner)])
    return inner


@st.composite
def mutated(draw: st.DrawFn, seed: dict[str, Any]) -> bytes:
    node = tree(orjson.loads(orjson.dumps(seed)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(slots(node)))
        target = get(node, path)
        op = draw(st.sampled_from(["type", "huge", "odd", "nest", "dup", "key", "drop"]))
        if op == "type":
            node = put(node, path, draw(wrong_type))
        elif op == "huge":
            node = put(node, path, Raw(draw(st.sampled_from(HUGE))))
        elif op == "odd":
            node = put(node, path, draw(odd_string()))
        elif op == "nest":
            node = put(node, path, draw(nested(target)))
        elif isinstance(target, Obj) and target.pairs:
            i = draw(st.integers(0, len(target.pairs) - 1))
            key, value = target.pairs[i]
            if op == "dup":
                target.pairs.append((key, draw(wrong_type)))
            elif op == "key":
                target.pairs[i] = (draw(odd_string()), value)
            else:
                del target.pairs[i]
    body = dump(node).encode("utf-8", "surrogatepass")
    cut = draw(st.one_of(st.none(), st.integers(0, max(len(body) - 1, 0))))
    if cut is not None:
        body = body[:cut]
    if draw(st.integers(0, 9)) == 0:
        body += draw(
            st.sampled_from([b"\xff", b"\xc3", b"\x00", b" ", b"}", b",", b"\xed\xa0\x80"])
        )
    return body


# ----------------------------------------------------------------------- valid seeds

CHAT = {"model": "llama-3.1-8b-instruct", "max_tokens": 4, "temperature": 0.5,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"x": {"type": "integer"}}}}}],
        "stop": ["\n"], "stream": False}  # fmt: skip
CHAT_STREAM = {"model": "mistral-small-3-24b", "stream": True, "max_tokens": 4,
               "stream_options": {"include_usage": True}, "tool_choice": "auto",
               "tools": CHAT["tools"], "messages": [
                   {"role": "user", "content": "call f"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c1", "type": "function",
                        "function": {"name": "f", "arguments": '{"x": 1}'}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "2"}]}  # fmt: skip
COMPLETION = {"model": "qwen-2.5-72b-instruct", "prompt": ["Once", "upon"], "max_tokens": 4,
              "logit_bias": {"42": 1.5}, "stop_token_ids": [2]}  # fmt: skip
EMBEDDING = {"model": "nomic-embed-v1.5", "input": [[1, 2, 3], [4]], "dimensions": 64,
             "encoding_format": "float"}  # fmt: skip
BATCH = {"input_file_id": "file-abc", "endpoint": "/v1/chat/completions",
         "completion_window": "24h", "metadata": {"k": "v"}}  # fmt: skip
HUB = {"name": "fuzzed", "base_model": "llama-3.1-8b-instruct", "repo": "proof/good-lora",
       "revision": "main"}  # fmt: skip


# ------------------------------------------------------------------------ the verdict

ENVELOPE_KEYS = {"message", "type", "param", "code"}
BAD_LOG = re.compile(rb"\bERROR\b|Traceback|CRITICAL")


class Checker:
    """Sends requests and holds the gateway's answers and log to the verdict."""

    def __init__(self, stack: ProofStack) -> None:
        self.stack = stack
        self.http = httpx2.Client(base_url=stack.url, timeout=30, trust_env=False)
        self.auth = {"authorization": f"Bearer {stack.key}"}
        self.log_at = stack.log.stat().st_size

    def send(self, name: str, method: str, url: str, **kw: Any) -> httpx2.Response:
        headers = {**self.auth, **kw.pop("headers", {})}
        r = self.http.request(method, url, headers=headers, **kw)
        STATUSES[(name, r.status_code)] += 1
        body = r.content
        self.check_log()
        assert 200 <= r.status_code < 500, f"{r.status_code} for {kw!r:.500}: {body[:500]!r}"
        assert b"Traceback" not in body and b'File "' not in body, body[:1000]
        if r.status_code >= 400:
            err = orjson.loads(body)["error"]
            assert set(err) == ENVELOPE_KEYS, err
            assert isinstance(err["message"], str) and err["message"]
            assert isinstance(err["type"], str)
            assert err["param"] is None or isinstance(err["param"], str)
            assert err["code"] is None or isinstance(err["code"], str)
        return r

    def check_log(self) -> None:
        with self.stack.log.open("rb") as f:
            f.seek(self.log_at)
            new = f.read()
        self.log_at += len(new)
        bad = [line for line in new.splitlines() if BAD_LOG.search(line)]
        assert not bad, b"\n".join(bad[:20]).decode(errors="replace")


@pytest.fixture(scope="module")
def checker(proof_stack: ProofStack) -> Checker:
    return Checker(proof_stack)


FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the case itself is reported
    suppress_health_check=list(HealthCheck),
)
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("name", "url", "seed"),
    [
        ("chat", "/v1/chat/completions", CHAT),
        ("chat stream", "/v1/chat/completions", CHAT_STREAM),
        ("completions", "/v1/completions", COMPLETION),
        ("embeddings", "/v1/embeddings", EMBEDDING),
        ("batches", "/v1/batches", BATCH),
        ("adapters", "/v1/adapters", HUB),
    ],
)
def test_json_bodies(checker: Checker, name: str, url: str, seed: dict[str, Any]) -> None:
    @FUZZ
    @given(body=mutated(seed))
    def run(body: bytes) -> None:
        checker.send(name, "POST", url, content=body, headers=JSON)

    run()


# ------------------------------------------------------------------------- multipart


@dataclass
class Part:
    name: bytes
    value: bytes
    filename: bytes | None = None


def form(parts: list[Part], boundary: bytes) -> bytes:
    out = b""
    for p in parts:
        disp = b'form-data; name="' + p.name + b'"'
        if p.filename is not None:
            disp += b'; filename="' + p.filename + b'"'
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disp + b"\r\n\r\n"
        out += p.value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


odd_bytes = st.one_of(
    odd_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.sampled_from([b"", b"\x00", b'"', b"\r\n", b"\xff\xfe", b"a" * 5000]),
)


@st.composite
def broken_form(draw: st.DrawFn, parts: list[Part]) -> tuple[bytes, bytes]:
    """(body, content-type) of a form with some parts mutated."""
    parts = [Part(p.name, p.value, p.filename) for p in parts]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["value", "name", "filename", "dup", "drop", "boundary"]))
        i = draw(st.integers(0, len(parts) - 1)) if parts else 0
        if not parts:
            break
        if op == "value":
            parts[i].value = draw(odd_bytes)
        elif op == "name":
            parts[i].name = draw(odd_bytes)
        elif op == "filename":
            parts[i].filename = draw(odd_bytes)
        elif op == "dup":
            parts.append(Part(parts[i].name, draw(odd_bytes), parts[i].filename))
        elif op == "drop":
            del parts[i]
    boundary = b"fuzzb0undary"
    body = form(parts, boundary)
    cut = draw(st.one_of(st.none(), st.integers(0, max(len(body) - 1, 0))))
    if cut is not None:
        body = body[:cut]
    header = draw(st.sampled_from([b"fuzzb0undary", b"other", b'"fuzzb0undary"', b""]))
    ctype = b"multipart/form-data; boundary=" + header
    if draw(st.integers(0, 9)) == 0:
        ctype = draw(st.sampled_from([b"multipart/form-data", b"text/plain", b"multipart/mixed"]))
    return body, ctype


def _adapter_files() -> tuple[bytes, bytes]:
    import tempfile
    from pathlib import Path

    from adapters.files import adapter, modules

    with tempfile.TemporaryDirectory() as tmp:
        return adapter(Path(tmp), modules("llama-3.1-8b-instruct"))


def _multipart_seeds() -> list[tuple[str, str, list[Part]]]:
    cfg, weights = _adapter_files()
    line = orjson.dumps({"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
                         "body": {"model": "llama-3.1-8b-instruct", "max_tokens": 2,
                                  "messages": [{"role": "user", "content": "hi"}]}})  # fmt: skip
    return [
        ("files", "/v1/files", [Part(b"purpose", b"batch"), Part(b"file", line, b"in.jsonl")]),
        ("batch", "/v1/batch?endpoint=/v1/chat/completions", [Part(b"file", line, b"b.jsonl")]),
        ("adapter upload", "/v1/adapters/upload", [
            Part(b"name", b"up"), Part(b"base_model", b"llama-3.1-8b-instruct"),
            Part(b"adapter_config", cfg, b"adapter_config.json"),
            Part(b"adapter_model", weights, b"adapter_model.safetensors")]),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "url", "parts"), _multipart_seeds(), ids=lambda v: v)
def test_multipart_uploads(checker: Checker, name: str, url: str, parts: list[Part]) -> None:
    @FUZZ
    @given(sent=broken_form(parts))
    def run(sent: tuple[bytes, bytes]) -> None:
        body, ctype = sent
        checker.send(name, "POST", url, content=body, headers={"content-type": ctype.decode()})

    run()


# ------------------------------------------------------------------ queries and path ids

query_text = st.one_of(
    st.text(max_size=30),
    odd_text,
    st.sampled_from(["2026-02-30", "0000-01-01", "9999-12-31", "2026-1-1", "-1", "1e309",
                     "%00", "%ff", "%ed%a0%80", "2026-01-01\n", "\u0662\u0660\u0662\u0666-01-01"]),
)  # fmt: skip


def _q(value: str) -> str:
    # a raw escape such as "%ff" goes as written; any other text (one that merely
    # starts with "%" included) is percent-encoded, so that the client can send it
    raw = value.startswith("%") and value.isascii() and value.isprintable()
    return value if raw else quote(value.encode("utf-8", "surrogatepass"))


@st.composite
def query_string(draw: st.DrawFn, names: list[str]) -> str:
    pairs = draw(
        st.lists(st.tuples(st.one_of(st.sampled_from(names), odd_text), query_text), max_size=5)
    )
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in pairs)


@pytest.mark.parametrize(
    ("name", "path", "names"),
    [
        ("usage", "/v1/usage", ["start_date", "end_date", "model", "tenant"]),
        ("models", "/v1/models", ["limit"]),
        ("files list", "/v1/files", ["limit", "after", "order", "purpose"]),
        ("batches list", "/v1/batches", ["limit", "after"]),
        ("adapters list", "/v1/adapters", ["limit", "after", "tenant"]),
        ("ready", "/health/ready", ["model"]),
    ],
)
def test_queries(checker: Checker, name: str, path: str, names: list[str]) -> None:
    @FUZZ
    @given(qs=query_string(names))
    def run(qs: str) -> None:
        checker.send(name, "GET", f"{path}?{qs}")

    run()


ID_PATHS: list[tuple[str, Callable[[str], str]]] = [
    ("model", lambda i: f"/v1/models/{i}"),
    ("file", lambda i: f"/v1/files/{i}"),
    ("file content", lambda i: f"/v1/files/{i}/content"),
    ("batch", lambda i: f"/v1/batches/{i}"),
    ("adapter", lambda i: f"/v1/adapters/{i}"),
]


@pytest.mark.parametrize(("name", "make"), ID_PATHS, ids=[n for n, _ in ID_PATHS])
def test_path_ids(checker: Checker, name: str, make: Callable[[str], str]) -> None:
    @FUZZ
    @given(ident=query_text)
    def run(ident: str) -> None:
        checker.send(name, "GET", make(_q(ident) or "x"))

    run()


def test_statuses_seen(checker: Checker) -> None:
    """The run reached past decoding too (some 200s), and the gateway still serves."""
    if not STATUSES:
        pytest.skip("runs after the fuzzing tests, on what they saw")
    print(f"\nfuzzing: {sum(STATUSES.values())} requests")
    for (name, status), n in sorted(STATUSES.items()):
        print(f"  {n:6d}  {status}  {name}")
    assert any(s == 200 for _, s in STATUSES), "no fuzzed request got through"
    checker.check_log()
    assert checker.http.get("/health").status_code == 200
