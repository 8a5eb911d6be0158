"""One gateway over one simulated worker process, for faults of the worker: the
worker can be killed -9 and started again on the same port; usage in SQLite."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import orjson
from harness.gateway import Gateway
from harness.procs import Proc
from harness.sims import start_sim_proc
from harness.waiting import poll
from provocapi.admission.counting import Counter
from provocapi.config import load as load_config
from provocapi.netutil import free_port

from .ledger import Row, rows

MODEL = "m"
ADMIN_KEY = "admin-" + secrets.token_hex(8)
TIMEOUT_S = 3.0  # the model's request_timeout_s: a hung worker costs this long


def config(worker_port: int) -> str:
    return f"""\
        [server]
        admin_key = "{ADMIN_KEY}"

        [usage]
        flush_interval_ms = 100

        [routing]
        probe_interval_s = 0.2
        max_attempts = 1

        [[models]]
        id = "{MODEL}"
        kind = "chat"
        family = "llama3"
        request_timeout_s = {TIMEOUT_S}
        workers = ["http://127.0.0.1:{worker_port}"]
        """


@dataclass
class Seen:
    """What one client saw: the status, and for a stream its events."""

    status: int
    code: str | None = None  # the error envelope's code (non-200) or error event's
    events: list[str] = field(default_factory=list)
    tokens: int = 0  # content chunks received
    text: str = ""  # their content, joined

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1] == "[DONE]"


class UpstreamStack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sim_port = free_port()
        self.sim: Proc | None = None
        self.start_sim()
        self.gw = Gateway(root / "gw", config(self.sim_port), workers=1)
        self.gw.start()
        self.key = self.gw.create_key("acme")
        poll(lambda: self.chat("warm-up").status, lambda s: s == 200, timeout_s=15)

    def start_sim(self) -> None:
        self.sim = start_sim_proc(
            MODEL, self.sim_port, self.root,
            "--ttft-ms", "0", "--token-delay-ms", "40", "--output-tokens", "200",
            name=f"sim-{time.monotonic_ns()}",
        )  # fmt: skip

    def kill_sim(self) -> None:
        assert self.sim is not None
        self.sim.kill9()
        self.sim = None

    def ensure_sim(self) -> None:
        """A worker up and ready in the gateway's eyes (after a test killed it)."""
        if self.sim is None or not self.sim.alive():
            self.start_sim()
        poll(lambda: self.chat("ready?").status, lambda s: s == 200, timeout_s=15)

    def stop(self) -> None:
        self.gw.stop()
        if self.sim is not None:
            self.sim.stop()

    def _headers(self, rid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Request-Id": rid}

    def chat(self, text: str, rid: str | None = None) -> Seen:
        body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 8}
        with httpx2.Client(timeout=30, trust_env=False) as c:
            r = c.post(f"{self.gw.url}/v1/chat/completions", json=body,
                       headers=self._headers(rid or secrets.token_hex(6)))  # fmt: skip
        code = None if r.status_code == 200 else r.json()["error"]["code"]
        return Seen(r.status_code, code)

    def stream(self, text: str, rid: str, on_token: Callable[[int], None] | None = None) -> Seen:
        """A streamed chat; `on_token(n)` after each content chunk. A cut connection
        ends the events where it happened."""
        body = {"model": MODEL, "stream": True,
                "messages": [{"role": "user", "content": text}]}  # fmt: skip
        seen = Seen(0)
        try:
            with httpx2.Client(timeout=30, trust_env=False) as c:
                with c.stream("POST", f"{self.gw.url}/v1/chat/completions", json=body,
                              headers=self._headers(rid)) as r:  # fmt: skip
                    seen.status = r.status_code
                    if r.status_code != 200:
                        r.read()
                        seen.code = r.json()["error"]["code"]
                        return seen
                    for ln in r.iter_lines():
                        if not ln.startswith("data: "):
                            continue
                        seen.events.append(ln[6:])
                        if ln[6:] == "[DONE]":
                            continue
                        ev = orjson.loads(ln[6:])
                        if "error" in ev:
                            seen.code = ev["error"].get("code")
                        elif content := "".join(
                            ch.get("delta", {}).get("content") or "" for ch in ev["choices"]
                        ):
                            seen.tokens += 1
                            seen.text += content
                            if on_token is not None:
                                on_token(seen.tokens)
        except httpx2.HTTPError:
            pass
        return seen

    def stream_in_thread(self, text: str, rid: str, after: int) -> tuple[
            threading.Thread, list[Seen], threading.Event]:  # fmt: skip
        """The stream runs in a thread; the event is set at its `after`-th token."""
        out: list[Seen] = []
        reached = threading.Event()

        def run() -> None:
            out.append(self.stream(text, rid, lambda n: n >= after and reached.set()))

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, out, reached

    def tokens(self, text: str) -> int:
        """The gateway's count of `text`: its tokenizer for the model (usage's count of
        a cut stream), which need not split it as the simulator's one word a token."""
        assert self.gw.config_path is not None
        return Counter(load_config(self.gw.config_path)).text(MODEL, text)[0]

    def sim_stats(self) -> dict[str, int]:
        """The worker's own counters (`/sim/stats`): requests received, dropped, ..."""
        with httpx2.Client(timeout=10, trust_env=False) as c:
            r = c.get(f"http://127.0.0.1:{self.sim_port}/sim/stats")
        r.raise_for_status()
        return {k: v for k, v in r.json().items() if isinstance(v, int)}

    def recorded(self, rid: str) -> list[Row]:
        """The stored events of one call, once the flusher has stored it (or [] after 15 s)."""
        db = self.gw.data_dir / "usage.db"
        return poll(lambda: rows(db).get(rid, []), bool, timeout_s=15)
