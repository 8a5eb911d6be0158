"""Batch lines per second through the simulator, and the memory of `serve` while it runs.

Starts a chat and an embedding simulator (no token delay) and `provocapi serve` with
one worker process and the batch runner process, submits N lines per endpoint through
`POST /v1/batch`, and reports lines/s from `in_progress` to `completed` and the runner
process's peak RSS against its RSS before the batch. While the batch runs it samples
the RSS of every process of `serve` (the launcher, the Granian worker, the runner, the
usage flusher): `--rss-table` prints them at each tenth of the lines done, to show
memory stays flat instead of growing with the file (issue 13: 50,000 lines).
Bounded: each batch gives up after `--timeout` seconds; everything it started is stopped.

    .venv/bin/python bench/batch_lines.py [--lines 2000] [--concurrency 8]
    .venv/bin/python bench/batch_lines.py --lines 50000 --endpoint embeddings --rss-table \
        --timeout 600
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx2
import orjson
from provocapi.netutil import free_ports, wait_healthy

PY = sys.executable
RUNNER = "provocapi-batch"  # the runner is forked from the launcher and names itself so


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _tree(root: int) -> dict[int, str]:
    """`root` and every process under it: pid → a short name of its role."""
    parents: dict[int, int] = {}
    cmds: dict[int, bytes] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmds[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            names[int(entry)] = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        parents[int(entry)] = int(stat[1])
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)

    def role(pid: int) -> str:
        cmd = cmds.get(pid, b"")
        if pid == root:
            return "launcher"
        if names.get(pid) == RUNNER:
            return "runner"
        if names.get(pid) == "provocapi-usage" or b"flusher_process" in cmd:
            return "flusher"
        return "worker"

    return {pid: role(pid) for pid in tree}


class RssSampler:
    """RSS of each role of `serve`'s processes at each tenth of the lines done."""

    def __init__(self, serve_pid: int, total: int) -> None:
        self.serve_pid = serve_pid
        self.total = total
        self.rows: list[tuple[int, dict[str, int]]] = []  # (lines done, role → KiB)
        self.peak: dict[str, int] = {}  # the most each role held at any poll
        self.next_tenth = 0

    def sample(self, done: int, force: bool = False) -> None:
        by_role: dict[str, int] = {}
        for pid, role in _tree(self.serve_pid).items():
            try:
                by_role[role] = by_role.get(role, 0) + _rss_kb(pid)
            except OSError:
                continue
        for role, kb in by_role.items():
            self.peak[role] = max(self.peak.get(role, 0), kb)
        tenth = done * 10 // max(1, self.total)
        if force or tenth >= self.next_tenth:
            self.next_tenth = tenth + 1
            self.rows.append((done, by_role))

    def table(self) -> str:
        roles = sorted({r for _, row in self.rows for r in row})
        out = ["| lines done | " + " | ".join(f"{r} MiB" for r in roles) + " | total MiB |",
               "|---:|" + "---:|" * (len(roles) + 1)]  # fmt: skip
        for done, row in self.rows:
            cells = [f"{row.get(r, 0) / 1024:.1f}" for r in roles]
            out.append(f"| {done} | " + " | ".join(cells) + f" | {sum(row.values()) / 1024:.1f} |")
        cells = [f"{self.peak.get(r, 0) / 1024:.1f}" for r in roles]
        out.append("| peak at any poll | " + " | ".join(cells) + " | |")
        return "\n".join(out)


def _runner_pid(parent: int) -> int:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            name = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if int(stat[1]) == parent and name == RUNNER:
            return int(entry)
    raise RuntimeError("no batch runner process")


def _lines(endpoint: str, n: int) -> bytes:
    out = []
    for i in range(n):
        if endpoint == "/v1/embeddings":
            body: dict[str, object] = {"model": "bge-m3", "input": f"text number {i}"}
        else:
            body = {"model": "llama-3.1-8b-instruct", "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"question {i}"}]}  # fmt: skip
        out.append(orjson.dumps({"custom_id": f"c{i}", "method": "POST", "url": endpoint,
                                 "body": body}))  # fmt: skip
    return b"\n".join(out) + b"\n"


def run_one(
    h: httpx2.Client, endpoint: str, n: int, runner: int, timeout_s: float, serve_pid: int,
    rss_table: bool,
) -> None:  # fmt: skip
    before = _rss_kb(runner)
    sampler = RssSampler(serve_pid, n)
    sampler.sample(0, force=True)
    r = h.post(f"/v1/batch?endpoint={endpoint}", content=_lines(endpoint, n))
    r.raise_for_status()
    bid = r.json()["id"]
    peak = before
    started = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        b = h.get(f"/v1/batch/{bid}").json()
        peak = max(peak, _rss_kb(runner))
        counts = b["request_counts"]
        sampler.sample(counts["completed"] + counts["failed"])
        if started is None and b["status"] != "validating":
            started = time.monotonic()
        if b["status"] in ("completed", "failed", "expired", "cancelled"):
            break
        time.sleep(0.05)
    took = time.monotonic() - (started or deadline)
    counts = b["request_counts"]
    print(f"{endpoint}: {n} lines, status {b['status']}, {counts['completed']} ok, "
          f"{counts['failed']} failed, {took:.2f} s, {n / took:.0f} lines/s; "
          f"runner RSS {before / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB")  # fmt: skip
    if rss_table:
        sampler.sample(counts["completed"] + counts["failed"], force=True)
        print(sampler.table(), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--endpoint", choices=("both", "chat", "embeddings"), default="both")
    ap.add_argument("--rss-table", action="store_true", help="RSS of serve at each tenth")
    args = ap.parse_args()
    gw_port, chat_port, embed_port = free_ports(3)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            procs.append(subprocess.Popen(
                [PY, "-m", "provocapi", "worker-sim", "--port", str(chat_port), "--model",
                 "llama-3.1-8b-instruct", "--family", "llama3", "--ttft-ms", "0",
                 "--token-delay-ms", "0", "--output-tokens", "16"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            procs.append(subprocess.Popen(
                [PY, "-m", "provocapi", "worker-sim", "--port", str(embed_port), "--model",
                 "bge-m3", "--embedding", "--dimensions", "1024"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            (root / "p.toml").write_text(textwrap.dedent(f"""\
                [batch]
                max_lines = {max(args.lines, 1)}
                line_concurrency = {args.concurrency}

                [[models]]
                id = "llama-3.1-8b-instruct"
                kind = "chat"
                family = "llama3"
                workers = ["http://127.0.0.1:{chat_port}"]

                [[models]]
                id = "bge-m3"
                kind = "embedding"
                dimensions = 1024
                workers = ["http://127.0.0.1:{embed_port}"]
                """))  # fmt: skip
            data = root / "data"
            key = subprocess.run(
                [PY, "-m", "provocapi", "keys", "create", "--tenant", "bench", "--data-dir",
                 str(data)], check=True, capture_output=True, text=True,
            ).stdout.split()[-1]  # fmt: skip
            gw = subprocess.Popen(
                [PY, "-m", "provocapi", "serve", "--config", str(root / "p.toml"), "--port",
                 str(gw_port), "--data-dir", str(data), "--workers", "1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)  # fmt: skip
            procs.append(gw)
            for port in (chat_port, embed_port, gw_port):
                wait_healthy(f"http://127.0.0.1:{port}/health", timeout_s=30)
            runner = _runner_pid(gw.pid)
            auth = {"Authorization": f"Bearer {key}"}
            with httpx2.Client(base_url=f"http://127.0.0.1:{gw_port}", headers=auth,
                               timeout=60, trust_env=False) as h:  # fmt: skip
                endpoints = {"chat": ["/v1/chat/completions"], "embeddings": ["/v1/embeddings"],
                             "both": ["/v1/chat/completions", "/v1/embeddings"]}  # fmt: skip
                for endpoint in endpoints[args.endpoint]:
                    run_one(h, endpoint, args.lines, runner, args.timeout, gw.pid,
                            args.rss_table)  # fmt: skip
        finally:
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
