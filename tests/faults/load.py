"""Steady chat calls from a few threads while a test breaks something, each call's
status (and error code) kept with its request id."""

from __future__ import annotations

import secrets
import threading
import time

import httpx2

BODY = {"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


class Load:
    def __init__(self, url: str, key: str, threads: int = 2, pause_s: float = 0.005) -> None:
        self.url = f"{url}/v1/chat/completions"
        self.key = key
        self.pause_s = pause_s
        self.seen: dict[str, tuple[int, str | None]] = {}  # request id → (status, code)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            with httpx2.Client(timeout=30, trust_env=False) as c:
                for _ in range(8):  # a new connection every few: every Granian worker
                    rid = "load-" + secrets.token_hex(6)
                    headers = {"Authorization": f"Bearer {self.key}", "X-Request-Id": rid}
                    try:
                        r = c.post(self.url, json=BODY, headers=headers)
                        code = None if r.status_code == 200 else r.json()["error"]["code"]
                        got: tuple[int, str | None] = (r.status_code, code)
                    except httpx2.HTTPError as exc:
                        got = (0, type(exc).__name__)
                    with self._lock:
                        self.seen[rid] = got
                    time.sleep(self.pause_s)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def wait_for(self, n: int, timeout_s: float = 30) -> None:
        """Until `n` more calls have been answered."""
        target = self.count() + n
        deadline = time.monotonic() + timeout_s
        while self.count() < target and time.monotonic() < deadline:
            time.sleep(0.05)

    def by_status(self) -> dict[tuple[int, str | None], int]:
        out: dict[tuple[int, str | None], int] = {}
        with self._lock:
            for got in self.seen.values():
                out[got] = out.get(got, 0) + 1
        return out

    def ids(self, status: int) -> set[str]:
        with self._lock:
            return {rid for rid, got in self.seen.items() if got[0] == status}
