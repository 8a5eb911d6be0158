"""bench/floor.py's `--unique-prompts` load, sent by wrk for real: every prompt new to the
gateway's count cache, numbers carried on from run to run and wrapped at floor.UNIQUE_CYCLE
(so the simulator, which remembers that many answers, stays ahead of the targets)."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402

TICKET = re.compile(r"^Ticket (\d+)\. ")


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk's connections expect
    seen: list[int]
    prompts: set[str]
    live: list[int]  # connections being served, one count shared by the handler's threads
    lock: threading.Lock

    def handle(self) -> None:
        with self.lock:
            self.live[0] += 1
        try:
            super().handle()
        except ConnectionError:
            pass  # wrk closes its connections mid-answer when its time is up
        finally:
            with self.lock:
                self.live[0] -= 1

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        user = json.loads(raw)["messages"][1]["content"]
        m = TICKET.match(user)
        assert m is not None, user
        self.seen.append(int(m.group(1)))
        self.prompts.add(user[m.end() :])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    # every one of wrk's connections queued at once: with the default backlog of 5 the kernel
    # drops the handshake's last step for the rest, and their requests arrive a second or more
    # late, after the run that sent them (and after `settle`) is over
    request_queue_size = 2 * floor.CONNECTIONS
    daemon_threads = True


def settle(handler: type[Recorder]) -> None:
    """Wait until the server has read every request wrk sent before it exited: requests still in
    flight at wrk's end are read by their threads afterwards, and must count for that run."""
    deadline = time.monotonic() + 30
    last = -1
    while time.monotonic() < deadline:
        with handler.lock:
            live, count = handler.live[0], len(handler.seen)
        if live == 0 and count == last:
            return
        last = count
        time.sleep(0.2)
    raise AssertionError(f"the recorder still serves {live} connections after 30 s")


def span(start: int, seen: int) -> set[int]:
    """The numbers a run from `start` can have sent when the server saw `seen` requests."""
    return {(start + i) % floor.UNIQUE_CYCLE for i in range(1, seen + 2 + floor.CONNECTIONS)}


@pytest.fixture
def recorder() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type(
        "R", (Recorder,), {"seen": [], "prompts": set(), "live": [0], "lock": threading.Lock()}
    )
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions", handler
    server.shutdown()
    server.server_close()


def test_numbers_go_on_across_runs_and_wrap(
    tmp_path: Path, recorder: tuple[str, type[Recorder]]
) -> None:
    url, handler = recorder
    script = floor.lua_script(tmp_path / "chat.lua", "pk-prov-x", False, unique=True)
    run = floor.Runner(tmp_path / "raw.txt", floor.QUICK)
    start = run.sequence = floor.UNIQUE_CYCLE - 50  # the first run wraps
    first = run.wrk(url, script, 1, "first")
    settle(handler)
    seen_first = list(handler.seen)
    assert first.requests > 100 and first.failed == 0
    assert run.sequence == floor.sequence_after(start, first.requests, 0)
    start2 = run.sequence
    second = run.wrk(url, script, 1, "second")
    settle(handler)
    seen_second = handler.seen[len(seen_first) :]
    assert second.requests > 100

    # run 1: the numbers after `start`, modulo the cycle, each once: wrapped past the top
    # (wrk makes one request it never sends, and some are in flight when it stops)
    assert len(set(seen_first)) == len(seen_first) >= first.requests
    assert set(seen_first) <= span(start, len(seen_first))
    assert 0 in seen_first and floor.UNIQUE_CYCLE - 1 in seen_first
    assert max(seen_first) < floor.UNIQUE_CYCLE
    # run 2 goes on where run 1 could have stopped: no number of run 1 comes back
    assert len(set(seen_second)) == len(seen_second)
    assert not set(seen_first) & set(seen_second)
    assert set(seen_second) <= span(start2, len(seen_second))
    # the rest of the prompt is the floor's own, unchanged
    assert handler.prompts == {floor.PROMPT}


def test_cycle_outlasts_the_gateway_count_cache() -> None:
    # what makes every gateway count fresh: a prompt comes back only after more texts than
    # the count cache can hold twice over (it empties when full), and the simulator keeps them
    cache_rs = (BENCH.parent / "rust/src/tokens/cache.rs").read_text()
    m = re.search(r"pub const DEFAULT_CAPACITY: usize = ([\d_]+);", cache_rs)
    assert m is not None
    assert floor.UNIQUE_CYCLE > 2 * int(m.group(1).replace("_", ""))
    assert floor.UPSTREAM_MEMO > floor.UNIQUE_CYCLE
