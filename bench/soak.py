"""Soak: mixed traffic with faults for minutes; memory and descriptors must stay flat.

Starts simulated workers (a chat model on two workers with LoRA adapters, an
embedding model, and a `faulty` chat model whose requests carry the simulator's
fault triggers) and `provocapi serve` (two Granian workers, the usage flusher and
the batch runner), then sends, from a few concurrent clients, chat calls streamed
and not, with tools, through an adapter, embeddings, legacy completions, and calls
to `faulty` that the worker answers 503, with garbage, drops mid-stream or leaves
hanging past the model's timeout; a small batch is submitted every minute.

Every few seconds it samples RSS and open file descriptors of every process of the
gateway (the launcher and its children). After the warm-up, growth (the median of
the last minute's totals against the median of the first minute's after warm-up)
must stay under 5% for both, and the gateway must cause no 5xx: none on the clean
models and no 500 anywhere (a 502/503/504 is expected only on `faulty`). Writes a
Markdown report (bench/results/soak-DATE.md with --save).

    .venv/bin/python bench/soak.py [--minutes 10] [--warmup 2] [--clients 6] [--save]

Bounded: it stops after --minutes, and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import orjson
from provocapi.lora_files import write_zero_adapter
from provocapi.netutil import free_ports, wait_healthy

PY = sys.executable
RESULTS = Path(__file__).resolve().parent / "results"
GROWTH_LIMIT = 0.05
SAMPLE_S = 5.0
CHAT = "llama-3.1-8b-instruct"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
FAULTS = ["[sim:status=503]", "[sim:garbage]", "[sim:drop_after=2]", "[sim:delay_ms=60000]"]


# ------------------------------------------------------------------ the processes


def proc_tree(root: int) -> list[int]:
    """`root` and every process under it (Granian workers, flusher, batch runner)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(stat[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree and pid not in tree}
        tree |= more
        grew = bool(more)
    return sorted(tree)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Sample:
    t: float
    rss_kb: int  # over all gateway processes
    fds: int
    pids: int


def sample(root: int, t: float) -> Sample:
    rss = fds = n = 0
    for pid in proc_tree(root):
        try:
            rss += rss_kb(pid)
            fds += len(os.listdir(f"/proc/{pid}/fd"))
            n += 1
        except OSError:
            continue  # gone between the listing and the read
    return Sample(t, rss, fds, n)


# ------------------------------------------------------------------ the traffic


@dataclass
class Tally:
    by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    gateway_5xx: list[str] = field(default_factory=list)
    stream_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    batches: Counter[str] = field(default_factory=Counter)

    def answer(self, kind: str, status: int, code: str, faulty: bool) -> None:
        self.by_kind[kind] += 1
        self.statuses[(kind, status, code)] += 1
        if status == 500 or (status >= 500 and not faulty):
            self.gateway_5xx.append(f"{kind}: {status} {code}")


def body_for(kind: str, i: int) -> tuple[str, dict[str, object]]:
    text = f"soak message {i} {random.random():.6f}"
    msgs = [{"role": "user", "content": text}]
    if kind == "embeddings":
        return "/v1/embeddings", {"model": "bge-m3", "input": [text, text + " again"]}
    if kind == "completion":
        return "/v1/completions", {"model": CHAT, "prompt": text, "max_tokens": 12}
    body: dict[str, object] = {"model": CHAT, "messages": msgs, "max_tokens": 16}
    if kind == "tools":
        body["tools"] = TOOLS
    elif kind == "adapter":
        body["model"] = f"{CHAT}:sql"
    elif kind.startswith("faulty"):
        msgs[0]["content"] = random.choice(FAULTS) + " " + text
        body["model"] = "faulty"
    if kind.endswith("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return "/v1/chat/completions", body


KINDS = ["chat", "chat-stream", "tools", "adapter", "adapter-stream", "embeddings",
         "completion", "faulty", "faulty-stream"]  # fmt: skip
WEIGHTS = [25, 25, 10, 8, 8, 12, 6, 3, 3]


async def one(c: httpx2.AsyncClient, kind: str, i: int, tally: Tally) -> None:
    path, body = body_for(kind, i)
    faulty = kind.startswith("faulty")
    try:
        if not body.get("stream"):
            r = await c.post(path, json=body)
            code = "" if r.status_code < 400 else r.json()["error"]["code"]
            tally.answer(kind, r.status_code, code, faulty)
            return
        async with c.stream("POST", path, json=body) as r:
            if r.status_code != 200:
                await r.aread()
                tally.answer(kind, r.status_code, r.json()["error"]["code"], faulty)
                return
            last = b""
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    last = line[6:].encode()
            tally.answer(kind, 200, "", faulty)
            if last != b"[DONE]":
                err = orjson.loads(last).get("error", {}) if last.startswith(b"{") else {}
                tally.stream_errors[(kind, str(err.get("code", "cut")))] += 1
                if not faulty:
                    tally.gateway_5xx.append(f"{kind}: stream ended with {err or last[:80]!r}")
    except httpx2.HTTPError as exc:
        tally.answer(kind, 0, type(exc).__name__, faulty)
        if not faulty:
            tally.gateway_5xx.append(f"{kind}: {type(exc).__name__}")


async def client_loop(c: httpx2.AsyncClient, until: float, tally: Tally, seed: int) -> None:
    rnd = random.Random(seed)
    i = 0
    while time.monotonic() < until:
        i += 1
        await one(c, rnd.choices(KINDS, WEIGHTS)[0], seed * 1_000_000 + i, tally)
        await asyncio.sleep(rnd.uniform(0.0, 0.02))


async def batch_loop(c: httpx2.AsyncClient, until: float, tally: Tally) -> None:
    n = 0
    while time.monotonic() + 60 < until:
        n += 1
        next_at = time.monotonic() + 60
        lines = []
        for i in range(40):
            endpoint, body = body_for("chat", i)
            lines.append(orjson.dumps({"custom_id": f"b{n}-{i}", "method": "POST",
                                       "url": endpoint, "body": body}))  # fmt: skip
        r = await c.post(f"/v1/batch?endpoint={endpoint}", content=b"\n".join(lines) + b"\n")
        if r.status_code != 200:
            tally.batches[f"refused {r.status_code}"] += 1
        else:
            bid = r.json()["id"]
            status = "in_progress"
            deadline = time.monotonic() + 50
            while time.monotonic() < deadline and status not in (
                "completed",
                "failed",
                "expired",
                "cancelled",
            ):
                await asyncio.sleep(1)
                status = (await c.get(f"/v1/batch/{bid}")).json()["status"]
            tally.batches[status] += 1
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def sampler(root: int, until: float, out: list[Sample], t0: float) -> None:
    while time.monotonic() < until:
        out.append(sample(root, time.monotonic() - t0))
        await asyncio.sleep(SAMPLE_S)


async def drive(url: str, key: str, root: int, args: argparse.Namespace) -> tuple[
    Tally, list[Sample]
]:  # fmt: skip
    tally, samples = Tally(), []
    t0 = time.monotonic()
    until = t0 + args.minutes * 60
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=32)
    async with httpx2.AsyncClient(base_url=url, timeout=30, trust_env=False, limits=limits,
                                  headers={"Authorization": f"Bearer {key}"}) as c:  # fmt: skip
        tasks = [client_loop(c, until, tally, s) for s in range(args.clients)]
        await asyncio.gather(sampler(root, until, samples, t0), batch_loop(c, until, tally),
                             *tasks)  # fmt: skip
    return tally, samples


# ------------------------------------------------------------------ the verdict


def growth(samples: list[Sample], warmup_s: float, attr: str) -> tuple[float, float, float]:
    """(first minute after warm-up, last minute: medians; growth ratio)."""
    after = [s for s in samples if s.t >= warmup_s]
    first = [getattr(s, attr) for s in after if s.t < warmup_s + 60]
    end = samples[-1].t
    last = [getattr(s, attr) for s in after if s.t >= end - 60]
    a, b = statistics.median(first), statistics.median(last)
    return a, b, (b - a) / a if a else 0.0


def report(args: argparse.Namespace, tally: Tally, samples: list[Sample]) -> tuple[str, bool]:
    warmup_s = args.warmup * 60
    r0, r1, rg = growth(samples, warmup_s, "rss_kb")
    f0, f1, fg = growth(samples, warmup_s, "fds")
    ok = rg < GROWTH_LIMIT and fg < GROWTH_LIMIT and not tally.gateway_5xx
    total = sum(tally.by_kind.values())
    lines = [
        f"# Soak, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"`.venv/bin/python bench/soak.py --minutes {args.minutes} --warmup {args.warmup} "
        f"--clients {args.clients}` on {os.cpu_count()} shared cores "
        f"(load average at the end {os.getloadavg()[0]:.1f}).",
        "",
        f"**Verdict: {'PASS' if ok else 'FAIL'}** (growth < {GROWTH_LIMIT:.0%} after a "
        f"{args.warmup}-minute warm-up, 0 gateway-caused 5xx)",
        "",
        "| measure | first minute after warm-up | last minute | growth |",
        "|---|---|---|---|",
        f"| RSS of every gateway process (MiB) | {r0 / 1024:.1f} | {r1 / 1024:.1f} | {rg:+.2%} |",
        f"| open file descriptors | {f0:.0f} | {f1:.0f} | {fg:+.2%} |",
        "",
        f"Calls: {total} in {args.minutes} min ({total / (args.minutes * 60):.0f}/s); "
        f"gateway-caused 5xx: {len(tally.gateway_5xx)}"
        + (f" (first: {tally.gateway_5xx[:5]})" if tally.gateway_5xx else ""),
        "",
        "| kind | calls | answers (status code: count) |",
        "|---|---|---|",
    ]
    for kind in KINDS:
        got = ", ".join(f"{st} {code or 'ok'}: {n}" for (k, st, code), n
                        in sorted(tally.statuses.items()) if k == kind)  # fmt: skip
        lines.append(f"| {kind} | {tally.by_kind[kind]} | {got} |")
    errs = ", ".join(f"{k} {c}: {n}" for (k, c), n in sorted(tally.stream_errors.items()))
    lines += [
        "",
        f"Streams that ended with an error event: {errs or 'none'}.",
        f"Batches (40 lines each, one a minute): {dict(tally.batches) or 'none'}.",
        "",
        "Samples every 5 s (one row a minute): time, RSS total (MiB), fds, processes",
        "",
        "| t (s) | RSS (MiB) | fds | processes |",
        "|---|---|---|---|",
    ]
    next_t = 0.0
    for s in samples:
        if s.t >= next_t:
            lines.append(f"| {s.t:.0f} | {s.rss_kb / 1024:.1f} | {s.fds} | {s.pids} |")
            next_t = s.t + 60
    return "\n".join(lines) + "\n", ok


# ------------------------------------------------------------------ set-up


def config(root: Path, chat: list[int], embed: int, faulty: int) -> str:
    lora = root / "lora-sql"
    write_zero_adapter(lora, {"q_proj": (8, 8)}, rank=2, layers=1)
    workers = ", ".join(f'"http://127.0.0.1:{p}"' for p in chat)
    return textwrap.dedent(f"""\
        [usage]
        flush_interval_ms = 500

        [[models]]
        id = "{CHAT}"
        kind = "chat"
        family = "llama3"
        capabilities = {{ tools = true }}
        workers = [{workers}]

        [[models.adapters]]
        name = "sql"
        lora_path = "{lora}"
        lora_int_id = 3

        [[models]]
        id = "bge-m3"
        kind = "embedding"
        dimensions = 1024
        workers = ["http://127.0.0.1:{embed}"]

        [[models]]
        id = "faulty"
        kind = "chat"
        family = "llama3"
        request_timeout_s = 2.0
        workers = ["http://127.0.0.1:{faulty}"]
        """)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0, help="minutes not judged")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--save", action="store_true", help="write bench/results/soak-DATE.md")
    args = ap.parse_args()
    if args.minutes < args.warmup + 2:
        ap.error("--minutes must leave at least 2 minutes after --warmup")
    gw_port, chat1, chat2, embed, faulty = free_ports(5)
    procs: list[subprocess.Popen[bytes]] = []
    gw: subprocess.Popen[bytes] | None = None
    sim_flags = ["--family", "llama3", "--ttft-ms", "5", "--token-delay-ms", "2",
                 "--output-tokens", "16", "--max-loras", "4", "--lora-load-ms", "20"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            for port, model, flags in [
                (chat1, CHAT, sim_flags), (chat2, CHAT, sim_flags),
                (embed, "bge-m3", ["--embedding", "--dimensions", "1024"]),
                (faulty, "faulty", sim_flags),
            ]:  # fmt: skip
                procs.append(subprocess.Popen(
                    [PY, "-m", "provocapi", "worker-sim", "--port", str(port), "--model", model,
                     *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            (root / "p.toml").write_text(config(root, [chat1, chat2], embed, faulty))
            data = root / "data"
            key = subprocess.run(
                [PY, "-m", "provocapi", "keys", "create", "--tenant", "soak", "--data-dir",
                 str(data)], check=True, capture_output=True, text=True,
            ).stdout.split()[-1]  # fmt: skip
            log = (root / "serve.log").open("wb")
            gw = subprocess.Popen(
                [PY, "-m", "provocapi", "serve", "--config", str(root / "p.toml"), "--port",
                 str(gw_port), "--data-dir", str(data), "--workers", "2"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            procs.append(gw)
            for port in (chat1, chat2, embed, faulty, gw_port):
                wait_healthy(f"http://127.0.0.1:{port}/health", timeout_s=60)
            url = f"http://127.0.0.1:{gw_port}"
            print(f"soak: {args.minutes} min against {url}, gateway pid {gw.pid}", flush=True)
            tally, samples = asyncio.run(drive(url, key, gw.pid, args))
            text, ok = report(args, tally, samples)
            errors = [ln for ln in (root / "serve.log").read_text(errors="replace").splitlines()
                      if "Traceback" in ln or " ERROR " in ln]  # fmt: skip
            text += f"\nTracebacks / ERROR lines in the gateway's log: {len(errors)}\n"
            text += "".join(f"    {ln[:200]}\n" for ln in errors[:10])
        finally:
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
            if gw is not None:  # whatever serve left behind
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(gw.pid, signal.SIGKILL)
    print(text)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"soak-{time.strftime('%Y-%m-%d', time.gmtime())}.md"
        out.write_text(text)
        print(f"saved {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
