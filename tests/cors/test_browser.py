"""A real browser: headless Chromium runs `fetch()` from a page of another origin
(another loopback port) against the gateway, and posts what it could read back to
the server of its page (its own origin), which the test waits for in real time (a
dumped DOM under a virtual-time budget came out before the calls ended on a busy
machine). Chromium enforces CORS itself, so this checks the headers against the
browser rather than against our reading of the spec.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .conftest import MODEL, Keyed

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine, and scripts/system-deps could not install it "
    "(apt-get install chromium)",
)

# The page: fetch() calls, each {name: [gateway, key, extra body fields, method (POST)]};
# it writes what the browser let it read as JSON to its own server (report()).
PAGE = """<!doctype html><html><body><script>
async function report(out) {
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
}
const chat = {model: "%(model)s", messages: [{role: "user", content: "hi"}], max_tokens: 4};
async function call([base, key, extra, method]) {
  try {
    const r = await fetch(base + "/v1/chat/completions", {
      method: method || "POST",
      headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json",
                "X-Stainless-Lang": "js", "X-Stainless-Retry-Count": "0"},
      body: JSON.stringify({...chat, ...extra}),
    });
    const text = await r.text();
    return {status: r.status, requestId: r.headers.get("x-request-id"),
            worker: r.headers.get("x-provocapi-worker"), allow: r.headers.get("allow"),
            body: text};
  } catch (e) {
    return {blocked: String(e)};
  }
}
(async () => {
  const out = {};
  for (const [name, args] of Object.entries(%(calls)s)) out[name] = await call(args);
  await report(out);
})();
</script></body></html>
"""


def _page(calls: dict[str, tuple[Any, ...]]) -> str:
    return PAGE % {"model": MODEL, "calls": json.dumps(calls)}


# The same through the official `openai` npm package (tests/js, as scripts/test installs
# it), loaded by the page as ES modules: its own headers (x-stainless-*) are preflighted,
# and what it reads (request ids, error codes) is what a browser app gets.
SDK_PAGE = """<!doctype html><html><body><script type="module">
async function report(out) {
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
}
const out = {};
const chat = {model: "%(model)s", messages: [{role: "user", content: "hi"}], max_tokens: 4};
const opts = {baseURL: "%(open)s/v1", dangerouslyAllowBrowser: true, maxRetries: 0};
try {
  const {default: OpenAI} = await import("/openai/index.mjs");
  const client = new OpenAI({...opts, apiKey: "%(key)s"});
  const {data, request_id} = await client.chat.completions.create(chat).withResponse();
  out.answer = {content: data.choices[0].message.content, requestId: request_id};
  const stream = await client.chat.completions.create({...chat, stream: true});
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  out.stream = {text};
  try {
    await new OpenAI({...opts, apiKey: "not-a-key"}).models.list();
  } catch (e) {
    out.badKey = {name: e.constructor.name, status: e.status, code: e.code,
                  requestId: e.requestID};
  }
} catch (e) {
  out.failed = String(e);
}
await report(out);
</script></body></html>
"""
SDK_DIR = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "openai"


class _Pages(BaseHTTPRequestHandler):
    """`/` the page; `/openai/...` the npm package's files (ES modules); POST `/result`
    what the page read."""

    page = b""
    results: queue.Queue[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()
        self.results.put(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        kind, body = "text/html; charset=utf-8", self.page
        if path.startswith("/openai/"):
            file = (SDK_DIR / path.removeprefix("/openai/")).resolve()
            if not file.is_relative_to(SDK_DIR.resolve()) or not file.is_file():
                self.send_error(404)
                return
            kind, body = "text/javascript", file.read_bytes()
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Page:
    """The page's URL, http://127.0.0.1:<another port>/ (another origin than the
    gateways'), and what it reported."""

    def __init__(self, url: str, results: queue.Queue[bytes]) -> None:
        self.url = url
        self.results = results


def _serve(page: str) -> Iterator[Page]:
    results: queue.Queue[bytes] = queue.Queue()
    handler = type("Page", (_Pages,), {"page": page.encode(), "results": results})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Page(f"http://127.0.0.1:{server.server_address[1]}/", results)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page(keyed: Keyed) -> Iterator[Page]:
    """A call that works, its stream and an error, from a page of another origin."""
    gw, key = keyed.gateway.url, keyed.key
    calls = {"answer": (gw, key, {}), "stream": (gw, key, {"stream": True}),
             "badKey": (gw, "not-a-key", {}), "wrongMethod": (gw, key, {}, "PUT")}  # fmt: skip
    yield from _serve(_page(calls))


@pytest.fixture
def unlisted_page(listed: Keyed) -> Iterator[Page]:
    """A call to a gateway whose list lacks the page's origin."""
    yield from _serve(_page({"unlisted": (listed.gateway.url, listed.key, {})}))


@pytest.fixture
def sdk_page(keyed: Keyed) -> Iterator[Page]:
    if not SDK_DIR.is_dir():
        pytest.fail("tests/js/node_modules is missing: run `npm install` in tests/js")
    yield from _serve(SDK_PAGE % {"model": MODEL, "open": keyed.gateway.url, "key": keyed.key})


def _results(page: Page, profile: Path) -> dict[str, Any]:
    """Runs the page in headless Chromium until it reports (at most REPORT_S)."""
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={profile}", page.url]  # fmt: skip
    browser = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        body = page.results.get(timeout=REPORT_S)
    except queue.Empty:
        browser.kill()
        _, err = browser.communicate(timeout=30)
        pytest.fail(f"the page reported nothing in {REPORT_S} s; Chromium said: {err[-3000:]}")
    finally:
        if browser.poll() is None:
            browser.terminate()
            try:
                browser.wait(timeout=15)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait(timeout=15)
    result: dict[str, Any] = json.loads(body)
    return result


REPORT_S = 90  # real time: a busy two-core machine loads the SDK's modules slowly


def test_a_page_of_another_origin_calls_the_gateway(page: Page, tmp_path: Path) -> None:
    out = _results(page, tmp_path / "profile")
    answer = out["answer"]
    assert answer.get("status") == 200, answer
    assert answer["requestId"] and answer["worker"], answer  # exposed headers
    assert json.loads(answer["body"])["choices"][0]["message"]["content"]
    stream = out["stream"]
    assert stream.get("status") == 200, stream
    assert stream["requestId"], stream
    assert stream["body"].rstrip().endswith("data: [DONE]"), stream["body"][-200:]
    # an error is read as such, not as a network failure
    bad = out["badKey"]
    assert bad.get("status") == 401, bad
    assert json.loads(bad["body"])["error"]["code"] == "invalid_api_key"
    assert bad["requestId"]
    # a method the path does not take: its 405 and Allow, not "Failed to fetch"
    wrong = out["wrongMethod"]
    assert wrong.get("status") == 405, wrong
    assert json.loads(wrong["body"])["error"]["code"] == "method_not_allowed"
    assert wrong["allow"] == "POST, OPTIONS", wrong


def test_a_page_of_an_unlisted_origin_is_refused(unlisted_page: Page, tmp_path: Path) -> None:
    """The browser itself refuses the page (the gateway's 403 has no allow header)."""
    out = _results(unlisted_page, tmp_path / "profile")
    assert "Failed to fetch" in out["unlisted"].get("blocked", ""), out


def test_the_openai_js_sdk_in_a_page(sdk_page: Page, tmp_path: Path) -> None:
    out = _results(sdk_page, tmp_path / "profile")
    assert "failed" not in out, out
    assert out["answer"]["content"] and out["answer"]["requestId"], out
    assert out["stream"]["text"], out
    # the SDK's own error class, status and code, and the request id it read
    assert out["badKey"]["name"] == "AuthenticationError", out
    assert out["badKey"]["status"] == 401 and out["badKey"]["code"] == "invalid_api_key", out
    assert out["badKey"]["requestId"], out
