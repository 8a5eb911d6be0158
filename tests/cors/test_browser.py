"""A real browser: headless Chromium runs `fetch()` from a page of another origin
(another loopback port) against the gateway, and writes what it could read into
the page; the test reads the dumped DOM. Chromium enforces CORS itself, so this
checks the headers against the browser rather than against our reading of the spec.
"""

from __future__ import annotations

import json
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

# The page: a call that works, its stream, an error, and a gateway that does not list
# this page's origin. It writes what the browser let it read as JSON into #out.
PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const chat = {model: "%(model)s", messages: [{role: "user", content: "hi"}], max_tokens: 4};
async function call(base, key, extra) {
  try {
    const r = await fetch(base + "/v1/chat/completions", {
      method: "POST",
      headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json",
                "X-Stainless-Lang": "js", "X-Stainless-Retry-Count": "0"},
      body: JSON.stringify({...chat, ...extra}),
    });
    const text = await r.text();
    return {status: r.status, requestId: r.headers.get("x-request-id"),
            worker: r.headers.get("x-provocapi-worker"), body: text};
  } catch (e) {
    return {blocked: String(e)};
  }
}
(async () => {
  const out = {
    answer: await call("%(open)s", "%(key)s", {}),
    stream: await call("%(open)s", "%(key)s", {stream: true}),
    badKey: await call("%(open)s", "not-a-key", {}),
    unlisted: await call("%(listed)s", "%(listed_key)s", {}),
  };
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>
"""


class _Page(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def page(keyed: Keyed, listed: Keyed) -> Iterator[str]:
    """The page's URL: http://127.0.0.1:<another port>/ (another origin than the gateways')."""
    text = PAGE % {"model": MODEL, "open": keyed.gateway.url, "key": keyed.key,
                   "listed": listed.gateway.url, "listed_key": listed.key}  # fmt: skip
    handler = type("Page", (_Page,), {"page": text.encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={profile}", "--virtual-time-budget=15000",
           "--dump-dom", url]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def _results(dom: str) -> dict[str, Any]:
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    text = dom[start : dom.index("</pre>", start)]
    assert text != "pending", "the page's calls did not finish"
    return json.loads(text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def test_a_page_of_another_origin_calls_the_gateway(page: str, tmp_path: Path) -> None:
    out = _results(_dump_dom(page, tmp_path / "profile"))
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
    # a gateway whose list lacks this origin: the browser itself refuses the page
    assert "Failed to fetch" in out["unlisted"].get("blocked", ""), out["unlisted"]
