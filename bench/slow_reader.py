"""A client that never reads its answer: what the gateway holds for it, and for how long.

One gateway (one Granian worker) over one simulator that streams as fast as it can
(no token delay, a very long answer), the worker capped at one call in flight. A raw
socket with a small receive buffer sends a request and then never reads. Every second
the probe prints the gateway worker's RSS, the worker's in-flight gauge on /metrics,
the simulator's `cancelled` count, the bytes waiting in the two sockets' kernel queues
(`ss`), and whether the connection is still open. Then a second client asks for a
short answer: with the slot held it waits in the queue (503 `queue_timeout`).

    .venv/bin/python bench/slow_reader.py [--seconds 30] [--stream | --no-stream]
        [--write-timeout 0] [--request-timeout 0]

`--write-timeout S` sets `[server] write_timeout_s`, `--request-timeout S` the model's
`request_timeout_s` (0: leave the default). Loopback only; bounded in time; stops
what it started.
"""

from __future__ import annotations

import argparse
import re
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness.gateway import Gateway, metric_sum
from harness.proctree import descendants
from harness.sims import start_sim_proc
from provocapi.netutil import free_port

MODEL = "m"
TOKENS = 400_000


def config(sim_port: int, write_timeout_s: float, request_timeout_s: float) -> str:
    extra = f"write_timeout_s = {write_timeout_s}" if write_timeout_s else ""
    model_extra = f"request_timeout_s = {request_timeout_s}" if request_timeout_s else ""
    return f"""\
        [server]
        {extra}

        [usage]
        flush_interval_ms = 100

        [routing]
        queue_timeout_s = 3
        max_attempts = 1

        [[models]]
        id = "{MODEL}"
        kind = "chat"
        family = "llama3"
        context_length = 1000000
        max_output_tokens = {TOKENS}
        default_max_tokens = {TOKENS}
        {model_extra}
        workers = [{{ url = "http://127.0.0.1:{sim_port}", max_concurrency = 1 }}]
        """


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def granian_workers(root_pid: int) -> list[int]:
    out = []
    for pid in descendants(root_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"granian" in cmd.lower() or b"provocapi" in cmd:
            out.append(pid)
    return out


def queues(port: int) -> str:
    """Recv-Q / Send-Q of the established sockets on `port` (either end)."""
    ss = subprocess.run(
        ["ss", "-tnH", "state", "established", f"( sport = :{port} or dport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    parts = []
    for line in ss.splitlines():
        f = line.split()
        if len(f) >= 4:
            parts.append(f"{f[2]}->{f[3]} r{f[0]}/s{f[1]}")
    return "; ".join(parts) or "-"


def in_flight(gw: Gateway) -> float:
    return metric_sum(gw.metrics_text(), "provocapi_worker_in_flight")


def cancelled(sim_url: str) -> int:
    stats = httpx2.get(f"{sim_url}/sim/stats", timeout=5, trust_env=False).json()
    m = re.search(rb'"cancelled":(\d+)', orjson.dumps(stats))
    return int(m.group(1)) if m else -1


def open_socket(port: int, key: str, stream: bool) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    s.connect(("127.0.0.1", port))
    body = orjson.dumps(
        {"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "long"}]}
    )
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    s.sendall(head + body)
    return s


def peer_closed(s: socket.socket) -> bool:
    """True once the gateway reset or closed the connection; reads nothing (poll's
    POLLERR/POLLHUP, without POLLIN: unread bytes are there all along)."""
    p = select.poll()
    p.register(s, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
    return bool(p.poll(0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--write-timeout", type=float, default=0.0)
    ap.add_argument("--request-timeout", type=float, default=0.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="slow-reader-") as tmp:
        root = Path(tmp)
        sim_port = free_port()
        sim = start_sim_proc(
            MODEL, sim_port, root, "--ttft-ms", "0", "--token-delay-ms", "0",
            "--output-tokens", str(TOKENS),
        )  # fmt: skip
        sim_url = f"http://127.0.0.1:{sim_port}"
        gw = Gateway(
            root / "gw", config(sim_port, args.write_timeout, args.request_timeout), workers=1
        )
        try:
            gw.start()
            key = gw.create_key("acme")
            workers = granian_workers(gw.pid)
            base_rss = {pid: rss_kib(pid) for pid in workers}
            print(f"gateway processes {workers}, RSS KiB at start {base_rss}")
            s = open_socket(gw.port, key, args.stream)
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                time.sleep(1.0)
                rss = {pid: rss_kib(pid) for pid in workers}
                grown = max(rss[p] - base_rss.get(p, 0) for p in rss)
                print(
                    f"t={time.monotonic() - t0:5.1f}s rss_grown_max={grown} KiB "
                    f"in_flight={in_flight(gw):g} sim_cancelled={cancelled(sim_url)} "
                    f"closed={peer_closed(s)} client[{queues(gw.port)}] "
                    f"worker[{queues(sim_port)}]",
                    flush=True,
                )
            t1 = time.monotonic()
            r = httpx2.post(
                f"{gw.url}/v1/chat/completions",
                json={
                    "model": MODEL,
                    "max_tokens": 4,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
                trust_env=False,
            )
            print(
                f"second request: {r.status_code} after {time.monotonic() - t1:.2f}s {r.text[:120]}"
            )
            s.close()
            time.sleep(2.0)
            print(f"after the client closed: in_flight={in_flight(gw):g} "
                  f"sim_cancelled={cancelled(sim_url)}")  # fmt: skip
        finally:
            gw.stop()
            sim.stop()


if __name__ == "__main__":
    main()
