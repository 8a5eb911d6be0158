"""Clients that do not read their stream (rows of the fault matrix, matrix.py).

One gateway with a short `[server] write_timeout_s` over one simulator that streams
as fast as it can, its worker capped at one call in flight (`max_concurrency = 1`),
so a call that keeps its slot shows as the next call waiting in the queue.

A client that sends its request and never reads (a raw socket with a small receive
buffer) must be cut: its connection reset once a send has taken nothing for the
write timeout, the worker's request cancelled, the slot free for the next call, one
usage event stored as for a client that left (499), with the tokens the gateway
relayed. A client that reads slowly, a burst every second, keeps its stream to the
end however much longer than the timeout the stream takes.
"""

from __future__ import annotations

import re
import secrets
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import orjson
import pytest
from harness.gateway import Gateway, metric_sum
from harness.procs import Proc
from harness.sims import start_sim_proc
from harness.waiting import poll
from provocapi.netutil import free_port

from .ledger import Row, rows

MODEL = "m"
WRITE_TIMEOUT_S = 2.0
MARGIN_S = 4.0  # scheduling on a shared two-core machine; the sweeper's tick is 0.25 s
NEVER_READ_TOKENS = 200_000  # far more than the socket buffers hold
SLOW_READ_TOKENS = 60_000  # about 12 MB of SSE: several of the slow reader's bursts
BURST_BYTES = 2 << 20  # what the slow reader takes each time it reads
PAUSE_S = 1.0  # and how long it then reads nothing


class Stack:
    def __init__(self, root: Path) -> None:
        self.sim_port = free_port()
        self.sim: Proc = start_sim_proc(
            MODEL, self.sim_port, root, "--ttft-ms", "0", "--token-delay-ms", "0",
            "--output-tokens", str(NEVER_READ_TOKENS),
        )  # fmt: skip
        self.gw = Gateway(
            root / "gw",
            f"""\
            [server]
            write_timeout_s = {WRITE_TIMEOUT_S}

            [usage]
            flush_interval_ms = 100

            [routing]
            max_attempts = 1
            queue_timeout_s = 3

            [[models]]
            id = "{MODEL}"
            kind = "chat"
            family = "llama3"
            context_length = 1000000
            max_output_tokens = {NEVER_READ_TOKENS}
            workers = [{{ url = "http://127.0.0.1:{self.sim_port}", max_concurrency = 1 }}]
            """,
            workers=1,
        )
        try:
            self.gw.start()
        except BaseException:
            self.sim.stop()
            raise
        self.key = self.gw.create_key("acme")

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.gw.stop()
        self.sim.stop()

    def headers(self, rid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Request-Id": rid}

    def chat(self) -> int:
        body = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
        r = httpx2.post(f"{self.gw.url}/v1/chat/completions", json=body,
                        headers=self.headers(rid()), timeout=30, trust_env=False)  # fmt: skip
        return r.status_code

    def cancelled(self) -> int:
        stats = httpx2.get(f"{self.sim_url}/sim/stats", timeout=5, trust_env=False).content
        m = re.search(rb'"cancelled":\s*(\d+)', stats)
        assert m, stats
        return int(m.group(1))

    def in_flight(self) -> float:
        return metric_sum(self.gw.metrics_text(), "provocapi_worker_in_flight")

    def stored(self, r: str) -> Row:
        found = poll(lambda: rows(self.gw.data_dir / "usage.db").get(r, []), bool, timeout_s=15)
        assert len(found) == 1, found  # stored, and only once
        return found[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("slow-readers")) as s:
        yield s


def rid() -> str:
    return "reader-" + secrets.token_hex(6)


def request_bytes(stack: Stack, r: str, max_tokens: int) -> bytes:
    body = orjson.dumps({"model": MODEL, "stream": True, "max_tokens": max_tokens,
                         "messages": [{"role": "user", "content": "a long story"}]})  # fmt: skip
    head = "".join(f"{k}: {v}\r\n" for k, v in stack.headers(r).items())
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{head}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def wait_reset(sock: socket.socket, give_up_s: float) -> bool:
    """Waits, reading nothing, until the connection is reset or closed by the gateway
    (poll's POLLERR/POLLHUP; POLLIN is not asked for: unread bytes are there all along)."""
    p = select.poll()
    p.register(sock, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
    return bool(p.poll(give_up_s * 1000))


def test_a_client_that_never_reads_is_cut_and_frees_its_slot(stack: Stack) -> None:
    r = rid()
    cancelled = stack.cancelled()
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
        started = time.monotonic()
        sock.connect(("127.0.0.1", stack.gw.port))
        sock.sendall(request_bytes(stack, r, NEVER_READ_TOKENS))
        cut = wait_reset(sock, WRITE_TIMEOUT_S + MARGIN_S)
        took = time.monotonic() - started
    finally:
        sock.close()
    assert cut, f"the connection was still open {took:.1f} s after its request"
    assert took >= WRITE_TIMEOUT_S  # a send waits the whole timeout first
    # the worker's request was cancelled, its slot is free: the next call is served
    poll(stack.cancelled, lambda n: n > cancelled, timeout_s=5)
    assert stack.chat() == 200
    poll(stack.in_flight, lambda n: n == 0, timeout_s=5)
    row = stack.stored(r)
    assert (row.status, row.outcome, row.error_code) == (499, "error", "write_timeout")
    # the tokens relayed (handed to the connection) before the cut: some, not all
    assert 0 < row.completion_tokens < NEVER_READ_TOKENS


def test_a_client_that_reads_slowly_keeps_its_stream(stack: Stack) -> None:
    r = rid()
    # a receive buffer of 256 KiB (4 KiB would crawl at one window per delayed ACK):
    # with the gateway's send buffer (4 MiB on loopback) less than two bursts
    window = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)]
    transport = httpx2.HTTPTransport(socket_options=window)
    body = {"model": MODEL, "stream": True, "max_tokens": SLOW_READ_TOKENS,
            "messages": [{"role": "user", "content": "a long story"}]}  # fmt: skip
    events: list[str] = []
    tokens = pauses = 0
    started = time.monotonic()
    with (
        httpx2.Client(transport=transport, timeout=60, trust_env=False) as c,
        c.stream(
            "POST", f"{stack.gw.url}/v1/chat/completions", json=body, headers=stack.headers(r)
        ) as resp,  # fmt: skip
    ):
        assert resp.status_code == 200
        burst = 0
        for line in resp.iter_lines():
            burst += len(line) + 1
            if burst >= BURST_BYTES:  # then nothing for a while: the gateway's sends wait
                time.sleep(PAUSE_S)
                pauses += 1
                burst = 0
            if not line.startswith("data: "):
                continue
            events.append(line[6:])
            if line[6:] != "[DONE]" and orjson.loads(line[6:])["choices"]:
                chunk = orjson.loads(line[6:])["choices"][0]
                tokens += bool(chunk["delta"].get("content"))
    took = time.monotonic() - started
    assert events[-1] == "[DONE]", events[-2:]
    assert tokens == SLOW_READ_TOKENS
    # longer than the timeout, with the gateway held up at every pause
    assert pauses >= 3 and took > 2 * WRITE_TIMEOUT_S, (pauses, took)
    row = stack.stored(r)
    assert (row.status, row.outcome, row.completion_tokens) == (200, "completed", tokens)
