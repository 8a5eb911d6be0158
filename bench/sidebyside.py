"""Side by side, one command: provocapi against LiteLLM, the Python floor, and the upstream alone.

    .venv/bin/python bench/sidebyside.py            # the measurement (about 20 minutes, <= 30)
    .venv/bin/python bench/sidebyside.py --quick    # a smoke run of every step (<= 5 minutes)
    .venv/bin/python bench/sidebyside.py --unique-prompts   # every prompt differs (no cache)

Targets, each reached with the same requests from the same load generators:

- direct     the simulated upstream itself (`python -m provocapi.sim`, faithful to trtllm-serve)
- provocapi  `provocapi serve --workers 1` with one model on that upstream
- floor      bench/baseline_proxy.py: Granian + uvloop + aiohttp, the body forwarded unparsed
- litellm    LiteLLM proxy 1.106 (`litellm[proxy]==1.106.*` in .cache/litellm-venv, installed
             here when missing), a plain OpenAI-compatible pass-through to the same upstream
             (bench/litellm/proxy_config.yaml): no database, one worker, LITELLM_LOG=ERROR,
             spend and error logs off, local cost map, no HF tokenizer download, random master
             key, AIOHTTP_CONNECTOR_LIMIT_PER_HOST=1000 (default 500) for the memory step

Steps (shared/design/PERFORMANCE.md; issues #6 and #18):

1. Maximum throughput: non-streaming chat (~200 prompt tokens, a 64-token answer), wrk with 64
   connections and a Lua body (`--unique-prompts`: a prompt new to the gateway each request,
   none back within 40,000 requests: floor.UNIQUE_CYCLE), in alternated rounds (5; --quick 3),
   every gateway up at once and one target loaded at a time, the order changing each round
   (bench/rounds.py: each target first in turn and right after each other one in turn): a
   warm-up then a measured run; CPU seconds of the gateway's whole process tree (/proc
   utime+stime) per 1,000 requests. Reported: the median over rounds, each round,
   and provocapi / pass-through per round with its median over the rounds in which the upstream
   alone served at least 3x the pass-through (bench/floor.py's rule).
2. Latency in alternated rounds (5; --quick 3), every gateway still up, the targets in an
   order that changes each round: c=1, one request at a time
   (bench/sequential.py) at every target; 40 req/s open loop at every target; then 50% and 80%
   of each gateway's own maximum with the upstream alone measured at the same rate beside it.
   Open loop: latency from each request's scheduled send time (bench/openloop.py, or oha -q N
   --latency-correction when built). Reported: the median over rounds of p50/p99/p99.9 and of
   the added latency (target minus the upstream in the same round), the percentiles pooled
   over rounds, and the upstream's own p99 range over rounds (a noisy round shows there).
3. Streaming chat: 64-token answers paced by the upstream at 20 ms per token, 64 streams at a
   time for a fixed window (bench/sidebyside_stream.py): TTFT, inter-token latency, tokens/s.
4. Memory: 1,000 streams opened at once (10 tokens, 4 s apart: each lasts ~36 s); RSS and PSS
   of the gateway's process tree while the most of them were open (the upstream counts them).

Layout: the load generators and the upstream share core 0; the measured gateway runs on
core 1 (`taskset -c 1`, inherited by its whole tree), one worker each.

Writes bench/results/sidebyside-<date>.md (the tables), .json (the figures) and .png (a chart,
drawn by bench/sidebyside_chart.py with matplotlib from a bench-only venv, .cache/bench-venv,
created here when missing); raw tool outputs go to .raw (not kept in git). Everything started
has its own process group and is killed on exit, Ctrl-C or error; the measurement stops itself
after --budget-min minutes whatever happens (installs are not counted).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from floor import (
    GATEWAY_CONFIG,
    MODEL,
    UNIQUE_WORDS,
    UPSTREAM_HEADROOM,
    UPSTREAM_MEMO,
    Processes,
    body,
    create_key,
    describe_tree,
    ensure_wrk,
    http,
    loadavg,
    lua_script,
    machine,
    run_wrk,
    tree,
    tree_cpu_s,
)
from machine_speed import SPEED_PROBE
from machine_speed import describe as speed_probe
from procmem import tree_pss
from provocapi.netutil import free_port, wait_healthy
from rounds import (
    added_by_round,
    median,
    order,
    per_round,
    rounds_met,
    summarise,
    summarise_max,
)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
CACHE = REPO / ".cache"
LITELLM_VENV = CACHE / "litellm-venv"
LITELLM_SPEC = "litellm[proxy]==1.106.*"
BENCH_VENV = CACHE / "bench-venv"
SERVER_CPU = "1"
LOAD_CPU = "0"
CONNECTIONS = 64
FIXED_RATE = 40.0
CHAT = "/v1/chat/completions"
SETTLE_S = 30.0  # longest wait for a target to go idle after its maximum-throughput run
TARGETS = ("direct", "provocapi", "floor", "litellm")
GATEWAYS = ("provocapi", "floor", "litellm")
LABELS = {
    "direct": "direct (upstream alone)",
    "provocapi": "provocapi",
    "floor": "floor (Granian + aiohttp pass-through)",
    "litellm": "LiteLLM proxy 1.106",
}


@dataclass(frozen=True)
class Durations:
    warmup: float  # wrk warm-up of each target in each maximum-throughput round, s
    measure: float  # wrk measured, s (likewise)
    rate_warmup: float  # fixed-rate warm-up of each run, s
    rounds: int  # alternated rounds: maximum throughput, then the latency steps
    at40_s: float  # 40 req/s: measured seconds per target and round
    frac_samples: int  # 50% / 80% of a target's max: requests per run ...
    frac_max_s: float  # ... but no longer than this
    c1_requests: int  # c=1: requests per target and round
    stream_window: float  # streaming: measured window, s
    hold: int  # streams opened at once in the memory step
    hold_tokens: int
    hold_token_delay_ms: float


FULL = Durations(3, 10, 1, 5, 10, 2000, 8, 1000, 10, 1000, 10, 4000)
QUICK = Durations(1, 2, 0.3, 3, 1.5, 200, 0.8, 100, 2, 200, 4, 1000)
FRACTIONS = {"half": 0.5, "high": 0.8}  # open-loop rates, of each target's own maximum


def upstream_of(step: str, name: str) -> str:
    """Where a latency step keeps the upstream's runs that `name`'s are measured against: one
    run a round for every target at c=1 and 40 req/s, one beside each gateway at 50% and 80%
    (its rate is that gateway's)."""
    return f"direct@{name}" if step in FRACTIONS else "direct"


def say(msg: str) -> None:
    print(msg, flush=True)


# --- tools: installed when missing, their time not counted -------------------------------------


def _main_worktree() -> Path | None:
    """The repository's main worktree (other worktrees share its built tools)."""
    r = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return None
    return Path(r.stdout.strip()).parent


def find_oha() -> str | None:
    roots = [CACHE]
    main = _main_worktree()
    if main is not None and main != REPO:
        roots.append(main / ".cache")
    for root in roots:
        candidate = root / "cargo" / "bin" / "oha"
        if candidate.exists():
            return str(candidate)
    return shutil.which("oha")


def ensure_oha(mode: str) -> str | None:
    if mode == "off":
        return None
    oha = find_oha()
    if oha is not None or shutil.which("cargo") is None:
        return oha
    say("    oha is missing: cargo install oha --locked --root .cache/cargo (minutes, once) ...")
    r = subprocess.run(
        ["cargo", "install", "oha", "--locked", "--root", str(CACHE / "cargo")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-3:]
        say(f"    oha build failed ({' / '.join(tail)}): falling back to bench/openloop.py")
    return find_oha()


def ensure_venv(venv: Path, spec: str, module: str) -> Path:
    """A virtualenv with `spec` installed (`module` importable); returns its python."""
    py = venv / "bin" / "python"
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    if py.exists() and subprocess.run([str(py), "-c", probe]).returncode == 0:
        return py
    say(f"    installing {spec} in {venv.relative_to(REPO)} (once; not counted) ...")
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
        check=True,
        timeout=1800,
    )
    return py


def package_version(py: Path, name: str) -> str:
    r = subprocess.run(
        [str(py), "-c", f"from importlib.metadata import version; print(version({name!r}))"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() or "?"


# --- /proc: CPU and memory of a process tree ------------------------------------------------------


def tree_rss_bytes(root: int) -> int:
    """Sum of VmRSS over the tree (shared pages counted in each process: an upper bound)."""
    total = 0
    for pid in tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


# --- load generators ---------------------------------------------------------------------------


@dataclass
class Throughput:
    requests: int
    failed: int
    seconds: float
    cpu_s: float | None  # the gateway tree's CPU over the measured run (None: direct)

    @property
    def rate(self) -> float:
        return (self.requests - self.failed) / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_1k(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / max(1, self.requests) * 1000

    @property
    def busy(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / self.seconds


@dataclass
class Latency:
    tool: str
    rate: float
    n: int  # requests measured (answered or failed)
    failed: int
    p50: float  # ms
    p90: float
    p99: float
    cpu_s: float | None = None
    p999: float = math.nan
    dump: str | None = None  # every latency (openloop.py --dump), for pooled percentiles

    @property
    def cpu_per_1k(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / max(1, self.n) * 1000


class Runner:
    def __init__(self, raw: Path, d: Durations, oha: str | None, work: Path) -> None:
        self.raw = raw
        self.d = d
        self.oha = oha
        self.work = work
        self.sequence = 0  # the next --unique-prompts number (floor.UNIQUE_CYCLE)

    def record(self, title: str, text: str) -> None:
        with self.raw.open("a") as f:
            f.write(f"\n### {dt.datetime.now():%H:%M:%S} {title}\n{text}\n")

    def wrk(self, url: str, script: Path, seconds: float, title: str) -> tuple[int, int, float]:
        r, self.sequence = run_wrk(url, script, seconds, self.sequence, self.record, title)
        return r.requests, r.failed, r.seconds

    def throughput(self, url: str, script: Path, pid: int | None, title: str) -> Throughput:
        self.wrk(url, script, self.d.warmup, f"{title} warm-up")
        cpu0 = tree_cpu_s(pid) if pid else 0.0
        requests, failed, seconds = self.wrk(url, script, self.d.measure, f"{title} measured")
        cpu = tree_cpu_s(pid) - cpu0 if pid else None
        return Throughput(requests, failed, seconds, cpu)

    def fixed_rate(
        self,
        url: str,
        key: str,
        body_file: Path,
        rate: float,
        n: int,
        pid: int | None,
        title: str,
    ) -> Latency:
        """`n` requests open loop at `rate` after a warm-up."""
        warm = max(1, math.ceil(rate * self.d.rate_warmup))
        if self.oha is not None:
            return self._oha(url, key, body_file, rate, n, warm, pid, title)
        return self._openloop(url, key, body_file, rate, n, pid, title)

    def sequential(self, url: str, key: str, body_file: Path, title: str) -> Latency:
        """c=1: one request at a time on one connection (bench/sequential.py)."""
        n = self.d.c1_requests
        argv = ["taskset", "-c", LOAD_CPU, PY, str(BENCH / "sequential.py"), "--url", url]
        argv += ["--body", str(body_file), "--requests", str(n), "--warmup", str(max(20, n // 10))]
        argv += ["--header", f"Authorization: Bearer {key}"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=n + 120)
        self.record(title, out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"sequential failed: {out.stderr.strip()[-500:]}")
        j = json.loads(out.stdout.strip().splitlines()[-1])
        return Latency(
            "sequential.py", 0.0, j["n"], j["failed"], j["p50_ms"], j["p90_ms"], j["p99_ms"],
            p999=j["p999_ms"],
        )  # fmt: skip

    def _oha(
        self,
        url: str,
        key: str,
        body_file: Path,
        rate: float,
        n: int,
        warm: int,
        pid: int | None,
        title: str,
    ) -> Latency:
        assert self.oha is not None
        opts = f"--no-tui --output-format json -c {CONNECTIONS} -q {rate:g} --latency-correction"
        common = ["taskset", "-c", LOAD_CPU, self.oha, *opts.split(), "-m", "POST"]
        common += ["-T", "application/json", "-H", f"Authorization: Bearer {key}"]
        common += ["-D", str(body_file)]
        limit = 2 * (n + warm) / rate + 60
        subprocess.run([*common, "-n", str(warm), url], capture_output=True, timeout=limit)
        cpu0 = tree_cpu_s(pid) if pid else 0.0
        out = subprocess.run(
            [*common, "-n", str(n), url], capture_output=True, text=True, timeout=limit
        )
        cpu = tree_cpu_s(pid) - cpu0 if pid else None
        self.record(title, out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"oha failed: {out.stderr.strip()[:500]}")
        j = json.loads(out.stdout)
        codes = j.get("statusCodeDistribution", {})
        ok = int(codes.get("200", 0))
        total = sum(int(v) for v in codes.values())
        total += sum(int(v) for v in j.get("errorDistribution", {}).values())
        pct = j["latencyPercentiles"]
        p999 = pct.get("p99.9")
        return Latency(
            "oha", rate, total, total - ok, pct["p50"] * 1e3, pct["p90"] * 1e3, pct["p99"] * 1e3,
            cpu, math.nan if p999 is None else p999 * 1e3,
        )  # fmt: skip

    def _openloop(
        self, url: str, key: str, body_file: Path, rate: float, n: int, pid: int | None, title: str
    ) -> Latency:
        seconds = n / rate
        opts = f"--rate {rate:g} --duration {seconds:g} --warmup {self.d.rate_warmup:g}"
        argv = ["taskset", "-c", LOAD_CPU, PY, str(BENCH / "openloop.py"), *opts.split()]
        argv += ["--connections", str(CONNECTIONS), "--url", url, "--body", str(body_file)]
        argv += ["--header", f"Authorization: Bearer {key}"]
        dump = self.work / f"lat-{len(list(self.work.glob('lat-*')))}.f64"
        argv += ["--dump", str(dump)]
        cpu0 = tree_cpu_s(pid) if pid else 0.0
        out = subprocess.run(argv, capture_output=True, text=True, timeout=2 * seconds + 120)
        cpu = tree_cpu_s(pid) - cpu0 if pid else None  # includes the warm-up here
        self.record(title, out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"openloop failed: {out.stderr.strip()[-500:]}")
        j = json.loads(out.stdout.strip().splitlines()[-1])
        sent = int(j["sent"])
        if cpu is not None:
            cpu *= sent / max(1.0, sent + rate * self.d.rate_warmup)
        return Latency(
            "openloop.py", rate, sent, j["errors"], j["p50_ms"], j["p90_ms"], j["p99_ms"], cpu,
            j["p999_ms"], str(dump) if dump.exists() else None,
        )  # fmt: skip

    def streams(self, url: str, key: str, body_file: Path, title: str) -> dict[str, Any]:
        argv = ["taskset", "-c", LOAD_CPU, PY, str(BENCH / "sidebyside_stream.py"), "--url", url]
        argv += ["--body", str(body_file), "--connections", str(CONNECTIONS)]
        argv += ["--duration", f"{self.d.stream_window:g}"]
        argv += ["--header", f"Authorization: Bearer {key}"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        self.record(title, out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"stream client failed: {out.stderr.strip()[-500:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def hold(
        self, url: str, key: str, body_file: Path, pid: int, upstream: str, title: str
    ) -> dict[str, Any]:
        """Open d.hold streams at once; sample the tree's RSS and the upstream's open streams."""
        d = self.d
        max_s = (d.hold_tokens + 1) * d.hold_token_delay_ms / 1000 + 40
        argv = ["taskset", "-c", LOAD_CPU, PY, str(BENCH / "sidebyside_stream.py"), "--url", url]
        argv += ["--body", str(body_file), "--hold", str(d.hold), "--max-seconds", f"{max_s:g}"]
        argv += ["--header", f"Authorization: Bearer {key}"]
        idle = tree_rss_bytes(pid)
        pss_idle = sum(tree_pss(pid).values())
        samples: list[tuple[int, int, int]] = []  # (streams open upstream, RSS, PSS of the tree)
        out_file = self.work / "hold.out"
        with out_file.open("w") as out, (self.work / "hold.err").open("w") as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, start_new_session=True)
            try:
                deadline = time.monotonic() + max_s + 30
                while proc.poll() is None and time.monotonic() < deadline:
                    pss = sum(tree_pss(pid).values())
                    samples.append((_sim_in_flight(upstream), tree_rss_bytes(pid), pss))
                    time.sleep(0.25)
            finally:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        open_max = max((o for o, _, _ in samples), default=0)
        # the memory "at N concurrent streams": RSS while (nearly) the most streams were open
        at_max = max((r for o, r, _ in samples if o >= 0.98 * open_max), default=idle)
        pss_at_max = max((p for o, _, p in samples if o >= 0.98 * open_max), default=pss_idle)
        peak = max((r for _, r, _ in samples), default=idle)
        text = out_file.read_text()
        self.record(title, text + (self.work / "hold.err").read_text())
        if proc.returncode != 0 or not text.strip():
            raise RuntimeError(f"hold client failed ({proc.returncode})")
        result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
        result.update(rss_idle=idle, rss_at_max_open=at_max, rss_peak=peak, open_max=open_max)
        result.update(pss_idle=pss_idle, pss_at_max_open=pss_at_max)
        return result


def _sim_in_flight(upstream: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        status, raw = http(upstream + "/sim/stats", timeout=2)
        if status == 200:
            return int(json.loads(raw)["in_flight"])
    return 0


def settle(pid: int | None, upstream: str, limit_s: float = SETTLE_S) -> float:
    """Wait until the last load is over: nothing in flight at the upstream and the gateway's
    tree under 5% of a core for half a second. wrk stops sending, but a gateway slower than its
    64 connections goes on with what it accepted, on the core the next target is measured on.
    Returns the seconds waited (at most limit_s)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        cpu0 = tree_cpu_s(pid) if pid else 0.0
        time.sleep(0.5)
        busy = (tree_cpu_s(pid) - cpu0) / 0.5 if pid else 0.0
        if busy < 0.05 and _sim_in_flight(upstream) == 0:
            break
    return time.monotonic() - t0


# --- the targets -------------------------------------------------------------------------------


@dataclass
class Env:
    procs: Processes
    work: Path
    litellm_bin: Path
    provocapi_key: str = ""
    litellm_key: str = field(default_factory=lambda: "sk-" + secrets.token_hex(16))
    litellm_granian: bool = False

    def key(self, name: str) -> str:
        return self.litellm_key if name == "litellm" else self.provocapi_key

    def start(self, name: str, upstream: str) -> tuple[str, int]:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        if name == "provocapi":
            cfg = self.work / "gateway.toml"
            cfg.write_text(GATEWAY_CONFIG.format(model=MODEL, upstream=upstream))
            argv = [PY, "-m", "provocapi", "serve", "--config", str(cfg), "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--data-dir", str(self.work / "data"), "--workers", "1"]
            env = {"PROVOCAPI_LOG_LEVEL": "WARNING"}
            ready = base + "/health"
        elif name == "floor":
            argv = [PY, str(BENCH / "baseline_proxy.py"), "--upstream", upstream]
            argv += ["--host", "127.0.0.1", "--port", str(port)]
            env = {}
            ready = base + "/health"  # forwarded to the simulator
        else:
            template = (BENCH / "litellm" / "proxy_config.yaml").read_text()
            cfg = self.work / "litellm.yaml"
            cfg.write_text(template.replace("{model}", MODEL).replace("{upstream}", upstream))
            argv = [str(self.litellm_bin), "--config", str(cfg), "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--num_workers", "1"]
            if self.litellm_granian:
                argv.append("--run_granian")
            env = {
                "LITELLM_LOG": "ERROR",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_MASTER_KEY": self.litellm_key,
                # its aiohttp transport holds at most 500 connections per upstream host by
                # default: the rest queue inside it, so 1,000 streams could never be open at once
                "AIOHTTP_CONNECTOR_LIMIT_PER_HOST": "1000",
                "NO_DOCS": "True",
            }
            ready = base + "/health/liveliness"
        proc = self.procs.start(name, argv, SERVER_CPU, env=env)
        try:
            wait_healthy(ready, 120, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{name}: {exc}\n{self.procs.log_tail(name)}") from None
        return base, proc.pid

    @contextlib.contextmanager
    def target(self, name: str, upstream: str) -> Iterator[tuple[str, int | None]]:
        if name == "direct":
            yield upstream, None
            return
        base, pid = self.start(name, upstream)
        try:
            yield base, pid
        finally:
            self.procs.stop(name)


def start_upstream(procs: Processes, name: str, extra: list[str]) -> str:
    port = free_port()
    argv = [PY, "-m", "provocapi.sim", "--port", str(port), "--model", MODEL, *extra]
    proc = procs.start(name, argv, LOAD_CPU)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/health", 60, proc)
    except RuntimeError as exc:
        raise RuntimeError(f"simulator: {exc}\n{procs.log_tail(name)}") from None
    return base


def check_answer(name: str, base: str, key: str) -> str:
    """One request through `base`, checked: 200 and a 64-token answer."""
    deadline = time.monotonic() + 30
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    data = json.dumps(body(False)).encode()
    while True:
        status, raw = http(base + CHAT, data, headers, timeout=30)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if status != 200:
        raise RuntimeError(f"{name}: HTTP {status}: {raw[:300]!r}")
    usage = json.loads(raw).get("usage") or {}
    if usage.get("completion_tokens") != 64:
        raise RuntimeError(f"{name}: expected a 64-token answer, usage {usage}")
    return f"{name:<9} 200, {len(raw)} bytes, usage {usage}"


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Results:
    started: str
    quick: bool
    load_before: str
    load_after: str = ""
    speed_before: str = ""  # bench/machine_speed.py
    speed_after: str = ""
    machine: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    fixed_tool: str = ""
    seconds: float = 0.0
    durations: dict[str, float] = field(default_factory=dict)
    max: dict[str, dict[str, Any]] = field(default_factory=dict)
    at40: dict[str, dict[str, Any]] = field(default_factory=dict)
    half: dict[str, dict[str, Any]] = field(default_factory=dict)
    half_direct: dict[str, dict[str, Any]] = field(default_factory=dict)
    # every round of the latency steps: step ("c1", "40", "half", "high") -> target -> runs;
    # "direct@<target>" is the upstream measured beside <target> at its rate
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    tail: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # summaries
    stream: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    unique_prompts: bool = False
    command: str = ""  # as run, every flag (a report of a partial run must say so)


def _lat(x: Latency) -> dict[str, Any]:
    return {**asdict(x), "cpu_per_1k": x.cpu_per_1k}


def _tput(x: Throughput) -> dict[str, Any]:
    return {**asdict(x), "rate": x.rate, "cpu_per_1k": x.cpu_per_1k, "busy": x.busy}


def _say_lat(name: str, x: Latency) -> None:
    cpu = f"  CPU {x.cpu_per_1k:.2f} s/1k req" if x.cpu_per_1k is not None else ""
    say(
        f"    {name:<9} {x.rate:7.0f} req/s  p50 {x.p50:8.2f}  p90 {x.p90:8.2f}  "
        f"p99 {x.p99:8.2f} ms  n={x.n} failed {x.failed}{cpu}"
    )


STEP_ERRORS = (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError)


def guarded(res: Results, step: str, name: str, fn: Callable[[str], None]) -> None:
    """Run one target's part of a step; a failure is reported, and the other targets still run."""
    try:
        fn(name)
    except STEP_ERRORS as exc:
        msg = f"{step}, {name}: {type(exc).__name__}: {str(exc).strip()[:400]}"
        res.errors.append(msg)
        say(f"    (!) FAILED {msg}")


def run_all(args: argparse.Namespace, res: Results, env: Env, run: Runner, t0: float) -> None:
    procs, work, d = env.procs, env.work, run.d
    targets = [t for t in TARGETS if t not in args.skip_target]

    def clock() -> str:
        return f"[{time.monotonic() - t0:5.0f} s]"

    say(f"==> {clock()} upstream: the simulator on core {LOAD_CPU} (64-token answers, no delay)")
    fast = start_upstream(
        procs, "sim-fast", ["--output-tokens", "64", "--memo-entries", str(UPSTREAM_MEMO)]
    )
    body_file = work / "body.json"
    body_file.write_text(json.dumps(body(False)))

    if "rates" not in args.skip:
        say(
            f"==> {clock()} every gateway up (pinned to core {SERVER_CPU}), idle but for the one "
            "measured"
        )
        up: dict[str, tuple[str, int | None]] = {"direct": (fast, None)}
        with contextlib.ExitStack() as stack:
            for name in targets:
                try:
                    base, pid = up[name] = stack.enter_context(env.target(name, fast))
                    say(f"    {clock()} " + check_answer(name, base, env.key(name)))
                    if pid is not None:
                        say(f"    {name}: pinned {describe_tree(pid)}")
                except STEP_ERRORS as exc:
                    up.pop(name, None)
                    res.errors.append(f"start, {name}: {type(exc).__name__}: {exc}")
            say(
                f"==> {clock()} maximum throughput in {d.rounds} alternated rounds, one target "
                "at a time"
            )
            maximum_rounds(res, run, env, up, args.unique_prompts, clock)
            say(
                f"==> {clock()} latency in {d.rounds} alternated rounds (c=1, {FIXED_RATE:g} "
                "req/s, 50% and 80% of each target's own max)"
            )
            latency_rounds(res, run, env, up, body_file, clock)
    procs.stop("sim-fast")

    if "stream" not in args.skip:
        say(
            f"==> {clock()} streaming: 64 tokens paced 20 ms apart, {CONNECTIONS} streams at a "
            f"time for {d.stream_window:g} s"
        )
        paced = start_upstream(
            procs, "sim-paced", ["--output-tokens", "64", "--token-delay-ms", "20"]
        )
        sfile = work / "stream.json"
        sfile.write_text(json.dumps(body(True)))

        def streams(name: str) -> None:
            with env.target(name, paced) as (base, _pid):
                s = run.streams(base + CHAT, env.key(name), sfile, f"{name} streams")
            res.stream[name] = s
            say(
                f"    {name:<9} {s['streams']} streams ({s['failed']} failed), "
                f"{s['tokens_per_s']:,.0f} tokens/s; TTFT p50 {s['ttft_ms']['p50']:.1f} ms "
                f"p90 {s['ttft_ms']['p90']:.1f} ms; ITL p50 {s['itl_ms']['p50']:.1f} ms "
                f"p90 {s['itl_ms']['p90']:.1f} ms p99 {s['itl_ms']['p99']:.1f} ms"
            )

        for name in targets:
            guarded(res, "streaming", name, streams)
        procs.stop("sim-paced")

    if "memory" not in args.skip:
        say(
            f"==> {clock()} memory: {d.hold} streams at once ({d.hold_tokens} tokens, "
            f"{d.hold_token_delay_ms:g} ms apart)"
        )
        extra = ["--output-tokens", str(d.hold_tokens)]
        slow = start_upstream(
            procs, "sim-slow", [*extra, "--token-delay-ms", f"{d.hold_token_delay_ms:g}"]
        )
        hfile = work / "hold.json"
        hbody = body(True)
        hbody["max_tokens"] = d.hold_tokens
        hfile.write_text(json.dumps(hbody))
        # first request through each gateway (lazy imports, pools): one token, so no token delay
        warm = body(False)
        warm["max_tokens"] = 1
        warm_bytes = json.dumps(warm).encode()

        def memory(name: str) -> None:
            key = env.key(name)
            with env.target(name, slow) as (base, pid):
                assert pid is not None
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
                status, raw = http(base + CHAT, warm_bytes, headers, timeout=30)
                if status != 200:
                    raise RuntimeError(f"warm-up request: HTTP {status}: {raw[:200]!r}")
                m = run.hold(base + CHAT, key, hfile, pid, slow, f"{name} hold")
            res.memory[name] = m
            say(
                f"    {name:<9} RSS idle {m['rss_idle'] / 2**20:.0f} MiB, "
                f"{m['rss_at_max_open'] / 2**20:.0f} MiB with {m['open_max']} streams open "
                f"upstream (peak {m['rss_peak'] / 2**20:.0f} MiB); {m['streams']} streams ok, "
                f"{m['failed']} failed, {m['seconds']:.0f} s"
            )

        for name in targets:
            if name != "direct":
                guarded(res, "memory", name, memory)
        procs.stop("sim-slow")


def maximum_rounds(
    res: Results,
    run: Runner,
    env: Env,
    up: dict[str, tuple[str, int | None]],
    unique: bool,
    clock: Callable[[], str],
) -> None:
    """Each round: wrk at each target in turn (warm-up, then the measured run), the order
    changing (rounds.order). res.rounds["max"] keeps every run; res.max gets the median over
    rounds, which sets the 50% and 80% rates of the latency rounds."""
    d = run.d
    names = [n for n in TARGETS if n in up]
    scripts = {
        n: lua_script(env.work / f"{n}.lua", env.key(n), stream=False, unique=unique) for n in names
    }
    kept = res.rounds.setdefault("max", {})
    for r in range(d.rounds):
        say(f"    {clock()} round {r + 1} of {d.rounds}: order {', '.join(order(names, r))}")
        for name in order(names, r):
            base, pid = up[name]
            url = base + CHAT
            t: Throughput | None = None
            try:
                t = run.throughput(url, scripts[name], pid, f"{name} max r{r + 1}")
            except STEP_ERRORS as exc:
                res.errors.append(f"maximum throughput round {r + 1}, {name}: {exc}")
            # a run that failed part way may have left requests queued as well
            waited = settle(pid, up["direct"][0])
            if t is None:
                continue
            kept.setdefault(name, []).append({**_tput(t), "round": r + 1, "settle_s": waited})
            cpu = f"  CPU {t.cpu_per_1k:.2f} s/1k req (core {t.busy:.0%})" if pid else ""
            late = f"; idle again {waited:.1f} s after" if waited > 1 else ""
            say(f"    {name:<9} max {t.rate:8.0f} req/s  failed {t.failed}{cpu}{late}")
    res.max = {name: summarise_max(runs) for name, runs in kept.items()}


def latency_rounds(
    res: Results,
    run: Runner,
    env: Env,
    up: dict[str, tuple[str, int | None]],
    body_file: Path,
    clock: Callable[[], str],
) -> None:
    """Each round: c=1 at every target, 40 req/s at every target, then 50% and 80% of each
    gateway's max with the upstream alone at the same rate right after (or before: the
    order alternates too). Targets in an order that changes each round (rounds.order); each
    run kept in res.rounds."""
    d = run.d
    names = [n for n in TARGETS if n in up]
    kept = res.rounds

    def keep(step: str, name: str, x: Latency, r: int) -> None:
        kept.setdefault(step, {}).setdefault(name, []).append({**_lat(x), "round": r + 1})

    for r in range(d.rounds):
        say(f"    {clock()} round {r + 1} of {d.rounds}: order {', '.join(order(names, r))}")
        for name in order(names, r):
            base, _pid = up[name]
            try:
                x = run.sequential(base + CHAT, env.key(name), body_file, f"{name} c=1 r{r + 1}")
            except STEP_ERRORS as exc:
                res.errors.append(f"c=1 round {r + 1}, {name}: {exc}")
                continue
            keep("c1", name, x, r)
            _say_lat(f"c=1 {name}", x)
        for name in order(names, r):
            base, pid = up[name]
            n = max(1, math.ceil(FIXED_RATE * d.at40_s))
            title = f"{name} at 40 r{r + 1}"
            try:
                x = run.fixed_rate(base + CHAT, env.key(name), body_file, FIXED_RATE, n, pid, title)
            except STEP_ERRORS as exc:
                res.errors.append(f"40 req/s round {r + 1}, {name}: {exc}")
                continue
            keep("40", name, x, r)
            _say_lat(f"40 {name}", x)
        for step, frac in FRACTIONS.items():
            for name in order(names, r):
                if name == "direct" or name not in res.max:
                    continue
                base, pid = up[name]
                rate = max(1.0, round(frac * res.max[name]["rate"]))
                n = max(1, min(d.frac_samples, math.ceil(rate * d.frac_max_s)))
                beside = (upstream_of(step, name), up["direct"][0] + CHAT, None)
                pair = [(name, base + CHAT, pid), beside]
                if r % 2:
                    pair.reverse()
                try:
                    for label, url, p in pair:
                        key = env.key(name)
                        title = f"{label} at {frac:.0%} r{r + 1}"
                        x = run.fixed_rate(url, key, body_file, rate, n, p, title)
                        keep(step, label, x, r)
                        _say_lat(f"{frac:.0%} {label}"[:24], x)
                except STEP_ERRORS as exc:
                    res.errors.append(f"{frac:.0%} round {r + 1}, {name}: {exc}")
    summarise_rounds(res)


def summarise_rounds(res: Results) -> None:
    """res.tail from res.rounds; at40 / half / half_direct (the chart's inputs) from it."""
    res.tail = {}
    for step in ("c1", "40", *FRACTIONS):
        kept = res.rounds.get(step, {})
        res.tail[step] = {}
        for name, runs in kept.items():
            if name.startswith("direct@"):
                continue  # the upstream beside a gateway: summarised with that gateway's
            # the upstream alone at c=1 and 40 req/s is a target too, with nothing to subtract
            direct = [] if name == "direct" else kept.get(upstream_of(step, name), [])
            if len(direct) != len(runs):
                direct = []
            res.tail[step][name] = summarise(runs, direct)
            if step == "40":
                res.at40[name] = res.tail[step][name]
            if step == "half":
                res.half[name] = res.tail[step][name]
                if direct:
                    res.half_direct[name] = summarise(direct, [])


# --- report ------------------------------------------------------------------------------------


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return fmt.format(x)


def _ratio(a: float | None, b: float | None, fmt: str = "{:.1f}x") -> str:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "n/a"
    return fmt.format(a / b)


def _added(x: dict[str, Any], direct: dict[str, Any], q: str) -> float:
    return float(x[q]) - float(direct[q])


def report(res: Results) -> str:
    names = [t for t in TARGETS if t in res.max]
    lite = "litellm" in res.max
    L: list[str] = [
        f"# Side by side: provocapi, LiteLLM, the Python floor, the upstream alone — "
        f"{res.started}" + (" (--quick: smoke run, not a measurement)" if res.quick else ""),
        "",
        f"- machine: {res.machine}; load average {res.load_before} before, "
        f"{res.load_after} after; speed probe {res.speed_before} before, {res.speed_after} "
        f"after ({SPEED_PROBE}); {res.seconds / 60:.1f} minutes",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in res.versions.items()),
        "- command: `.venv/bin/python "
        + (
            res.command
            or "bench/sidebyside.py"
            + (" --quick" if res.quick else "")
            + (" --unique-prompts" if res.unique_prompts else "")
        )
        + "`"
        + " (bench/README.md: method, placement, fairness)",
        f"- layout: each gateway on core {SERVER_CPU} (`taskset`, one worker process); "
        f"load generators and the simulated upstream on core {LOAD_CPU}; all gateways up (idle "
        "but the one measured) for the throughput and latency rounds, after each throughput run "
        "a wait until the target is idle again; one up at a time for streaming and memory; all "
        "on loopback",
        "",
        "## Maximum throughput and CPU",
        "",
        "Non-streaming chat (~200 prompt tokens, 64-token answer; "
        + (UNIQUE_WORDS if res.unique_prompts else "one fixed body")
        + f"), wrk c={CONNECTIONS}, in {int(res.durations['rounds'])} alternated rounds (every "
        "gateway up, idle but the one measured, the order changing each round) of "
        f"{res.durations['warmup']:g} s warm-up + {res.durations['measure']:g} s measured per "
        "target; the figures are the median over rounds (each round below). CPU "
        "is utime+stime of the gateway's whole process tree (/proc) over the measured run; "
        '"core ours" is that CPU per wall second: well under 100% at max load means the gateway '
        f"did not have core {SERVER_CPU} to itself (other work on the machine) or waited on core "
        f"{LOAD_CPU}; req/s then reads low, CPU per request much less so.",
        "",
        "| target | max req/s | vs LiteLLM | share of direct | failed | CPU s per 1k req "
        "(at max) | LiteLLM's / this | core ours | CPU s per 1k req (at 40 req/s) "
        "| LiteLLM's / this |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    direct_rate = res.max["direct"]["rate"] if "direct" in res.max else None
    lmax = res.max.get("litellm", {})
    l40 = res.at40.get("litellm", {})
    for n in names:
        m = res.max[n]
        a = res.at40.get(n, {})
        L.append(
            f"| {LABELS[n]} | {m['rate']:,.0f} | "
            f"{_ratio(m['rate'], lmax.get('rate')) if lite else 'n/a'} | "
            f"{_ratio(m['rate'], direct_rate, '{:.1%}')} | {m['failed']} | "
            f"{_f(m['cpu_per_1k'])} | {_ratio(lmax.get('cpu_per_1k'), m['cpu_per_1k'])} | "
            f"{_f(m['busy'], '{:.0%}')} | {_f(a.get('cpu_per_1k'))} | "
            f"{_ratio(l40.get('cpu_per_1k'), a.get('cpu_per_1k'))} |"
        )
    L += report_max_rounds(res)
    L += report_latency(res)
    if res.stream:
        L += [
            "",
            "## Streaming",
            "",
            f"64-token answers paced by the upstream at 20 ms per token; {CONNECTIONS} streams "
            f"at a time for {res.durations['stream_window']:g} s after a warm-up wave "
            "(bench/sidebyside_stream.py, aiohttp, core 0). TTFT: request sent to first content "
            "event; ITL: gap between consecutive content events of a stream; tokens/s: content "
            "events received per second, all streams together.",
            "",
            "| target | streams | failed | tokens/s | vs LiteLLM | TTFT p50 | TTFT p90 | TTFT p99 "
            "| n | ITL p50 | ITL p90 | ITL p99 | n |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ls = res.stream.get("litellm", {})
        for n in TARGETS:
            s = res.stream.get(n)
            if s is None:
                continue
            tt, it = s["ttft_ms"], s["itl_ms"]
            L.append(
                f"| {LABELS[n]} | {s['streams']:,} | {s['failed']} | {s['tokens_per_s']:,.0f} | "
                f"{_ratio(s['tokens_per_s'], ls.get('tokens_per_s'))} | "
                f"{_f(tt['p50'], '{:.1f} ms')} | {_f(tt['p90'], '{:.1f} ms')} | "
                f"{_f(tt['p99'], '{:.1f} ms')} | {tt['n']:,.0f} | {_f(it['p50'], '{:.1f} ms')} | "
                f"{_f(it['p90'], '{:.1f} ms')} | {_f(it['p99'], '{:.1f} ms')} | {it['n']:,.0f} |"
            )
    if res.memory:
        d = res.durations
        L += [
            "",
            f"## Memory at {int(d['hold']):,} concurrent streams",
            "",
            f"{int(d['hold']):,} streamed chats opened at once ({int(d['hold_tokens'])} tokens "
            f"{d['hold_token_delay_ms']:g} ms apart: each lasts about "
            f"{d['hold_tokens'] * d['hold_token_delay_ms'] / 1000:.0f} s). RSS is summed over "
            "the gateway's process tree (pages shared between its processes counted in each), "
            "sampled every 0.25 s with the upstream's count of streams in flight; \"with most "
            'open" is the RSS while that count was within 2% of its maximum. PSS (smaps_rollup) '
            "charges a page shared by k processes 1/k to each: the tree's PSS is the memory it "
            "really holds.",
            "",
            "| target | RSS idle | RSS with most open | LiteLLM's / this | PSS idle "
            "| PSS with most open | streams open upstream (max) | RSS peak (whole step) "
            "| streams ok | failed |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lm = res.memory.get("litellm", {})
        for n in TARGETS:
            mem = res.memory.get(n)
            if mem is None:
                continue
            L.append(
                f"| {LABELS[n]} | {mem['rss_idle'] / 2**20:,.0f} MiB | "
                f"{mem['rss_at_max_open'] / 2**20:,.0f} MiB | "
                f"{_ratio(lm.get('rss_at_max_open'), mem['rss_at_max_open'])} | "
                f"{mem.get('pss_idle', 0) / 2**20:,.0f} MiB | "
                f"{mem.get('pss_at_max_open', 0) / 2**20:,.0f} MiB | "
                f"{mem['open_max']:,} | {mem['rss_peak'] / 2**20:,.0f} MiB | {mem['streams']:,} | "
                f"{mem['failed']} |"
            )
    if res.errors:
        L += ["", "## Steps that failed", ""] + [f"- {e}" for e in res.errors]
    L += [
        "",
        'Ratios: "vs LiteLLM" = this / LiteLLM (higher is better); "LiteLLM\'s / this" = how '
        "many times more LiteLLM needs (higher is better for this target). A failed request is "
        "counted in n and in its latency.",
        "",
    ]
    return "\n".join(L)


def report_max_rounds(res: Results) -> list[str]:
    """Each maximum-throughput round: every target's req/s, the upstream's multiple of the
    pass-through's (the floor's rule: a round counts when the upstream alone serves at least 3x
    it) and provocapi / pass-through, with its median over the rounds that count."""
    kept = res.rounds.get("max", {})
    names = [n for n in TARGETS if n in kept]
    if not kept:
        return []
    rounds = sorted({int(x["round"]) for runs in kept.values() for x in runs})
    rate = {n: {int(x["round"]): float(x["rate"]) for x in kept[n]} for n in names}
    ours = per_round(kept.get("provocapi", []), kept.get("floor", []))
    head = per_round(kept.get("direct", []), kept.get("floor", []))
    counts = {r: head.get(r, 0.0) >= UPSTREAM_HEADROOM for r in ours}
    L = [
        "",
        "### Maximum throughput, round by round",
        "",
        "req/s of each target in each round, the order changing; a round counts for provocapi / "
        "pass-through when the upstream alone served at least 3x the pass-through in it (as in "
        "bench/floor.py: otherwise the upstream, not the gateway, may be the limit).",
        "",
        "| round | order | "
        + " | ".join(LABELS[n].split(" (")[0] for n in names)
        + " | upstream / pass-through | provocapi / pass-through | counts |",
        "|---:|---|" + "---:|" * len(names) + "---:|---:|---|",
    ]
    for r in rounds:
        L.append(
            f"| {r} | {', '.join(order(names, r - 1))} | "
            + " | ".join(_f(rate[n].get(r), "{:,.0f}") for n in names)
            + f" | {_f(head.get(r), '{:.1f}x')} | {_f(ours.get(r), '{:.3f}x')} | "
            + ("yes" if counts.get(r) else "no")
            + " |"
        )
    counted = [ours[r] for r in ours if counts[r]]
    if ours:
        which = "the rounds that count" if counted else "all rounds (**none counts**)"
        vals = counted or list(ours.values())
        L += [
            "",
            f"provocapi / pass-through, median of {which}: **{median(vals):.3f}x** "
            f"(range {min(vals):.3f}-{max(vals):.3f}, {len(vals)} of {len(ours)} rounds); by "
            "the median rates: "
            + _ratio(res.max["provocapi"]["rate"], res.max["floor"]["rate"], "{:.3f}x")
            + ".",
        ]
        if res.unique_prompts:
            ok = median(vals) >= 1.0 if counted else None
            L.append(
                f"- goal, fresh prompts: provocapi >= 1.0x the pass-through: {_goal(ok)} "
                f"({median(vals):.3f}x, the median above)"
            )
    return L


PUBLISHED = [
    ("TensorZero", "0.35 ms p50 total (not added) at 10k QPS on 4 vCPU, its own benchmark"),
    ("Bifrost", "0.44 ms median overhead, sequential requests, its published benchmark"),
    ("Portkey", "2.4 ms median overhead, sequential requests (as quoted in issue 18)"),
    ("LiteLLM", "4.3 ms median overhead, sequential requests (as quoted in issue 18)"),
]


def _goal(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "NO")


def _versus(res: Results, step: str, q: str, slack: float) -> tuple[str, bool | None]:
    """provocapi's added q against the pass-through's (+ slack ms) in a step, and in how
    many rounds it held (each round's added figures compared)."""
    t = res.tail.get(step, {})
    p, f = t.get("provocapi", {}), t.get("floor", {})
    a, b = p.get(f"added_{q}"), f.get(f"added_{q}")
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return "n/a", None
    text = f"{a:+.2f} ms vs {b:+.2f} ms (+{slack:g} ms allowed)"
    runs = res.rounds.get(step, {})
    ours, theirs = (
        added_by_round(runs.get(n, []), runs.get(upstream_of(step, n), []), q)
        for n in ("provocapi", "floor")
    )
    met, n = rounds_met(ours, theirs, slack)
    if n:
        text += f"; met in {met} of {n} rounds"
    return text, a <= b + slack


def report_latency(res: Results) -> list[str]:
    rounds = int(res.durations.get("rounds", 0))
    L = [
        "",
        "## Idle overhead: one request at a time (c=1)",
        "",
        f"bench/sequential.py (aiohttp, one kept-alive connection, core {LOAD_CPU}): "
        f"{int(res.durations.get('c1_requests', 0)):,} requests per target per round, "
        f"{rounds} rounds, the targets in an order that changes each round. Figures are the "
        "median over rounds of each round's percentile; added = the target's minus the "
        "upstream's of the same round (then the median). The client's own cost is in every "
        "target's figure alike and cancels in the added columns.",
        "",
        "| target | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 | n | failed "
        "| upstream p99 over rounds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n in TARGETS:
        x = res.tail.get("c1", {}).get(n)
        if x is None:
            continue
        rng = x.get("direct_p99_range")
        L.append(
            f"| {LABELS[n]} | {_f(x['p50'])} ms | {_f(x['p99'])} ms | {_f(x['p999'])} ms | "
            + " | ".join(_f(x.get(f"added_{q}"), "{:+.3f} ms") for q in ("p50", "p99", "p999"))
            + f" | {x['n']:,} | {x['failed']} | "
            + (f"{rng[0]:.2f} to {rng[1]:.2f} ms" if rng else "")
            + " |"
        )
    g50, ok50 = _versus(res, "c1", "p50", 0.05)
    g99, ok99 = _versus(res, "c1", "p99", 0.3)
    L += [
        "",
        f"- goal, added p50 <= the pass-through's + 0.05 ms: {_goal(ok50)} ({g50})",
        f"- goal, added p99 <= the pass-through's + 0.3 ms: {_goal(ok99)} ({g99})",
        "- published figures, other methods and machines (not comparable one to one): "
        + "; ".join(f"{name}: {what}" for name, what in PUBLISHED),
        "",
        "## Open-loop tail: added latency over the upstream alone",
        "",
        f"Open loop ({res.fixed_tool}; latency from each request's scheduled send time, so a "
        "stall counts for every request it delayed), same body, every gateway up at once on "
        f"core {SERVER_CPU} (idle but the measured one). {rounds} alternated rounds: in each, "
        f"{FIXED_RATE:g} req/s at every target (the upstream alone among them), then 50% and "
        "80% of each gateway's own maximum with the upstream alone measured at the same rate "
        "right beside it. Columns p50..p99.9 and added: median over rounds of the round's "
        "figure (added = target - upstream, same round). Pooled: the percentile over all "
        "rounds' requests together (n), target minus upstream. The upstream's p99 range over "
        "rounds shows how noisy the machine was.",
    ]
    titles = {
        "40": f"At {FIXED_RATE:g} req/s",
        "half": "At 50% of each target's own maximum",
        "high": "At 80% of each target's own maximum",
    }
    for step, title in titles.items():
        t = res.tail.get(step, {})
        if not t:
            continue
        L += [
            "",
            f"{title}:",
            "",
            "| target | rate | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 "
            "| pooled added p99 / p99.9 | n | failed | upstream p99 over rounds "
            "| CPU s per 1k req | core busy |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|",
        ]
        for n in TARGETS:
            x = t.get(n)
            if x is None:
                continue
            pa = x.get("pooled_added")
            pooled = f"{pa['p99']:+.2f} / {pa['p999']:+.2f} ms" if pa else "n/a"
            rng = x.get("direct_p99_range")
            L.append(
                f"| {LABELS[n]} | {x['rate']:,.0f} req/s | {_f(x['p50'])} ms | {_f(x['p99'])} ms "
                f"| {_f(x['p999'])} ms | "
                + " | ".join(_f(x.get(f"added_{q}"), "{:+.2f} ms") for q in ("p50", "p99", "p999"))
                + f" | {pooled} | {x['n']:,} | {x['failed']} | "
                + (f"{rng[0]:.2f} to {rng[1]:.2f} ms" if rng else "")
                + f" | {_f(x.get('cpu_per_1k'))} | {_f(x.get('busy'), '{:.0%}')} |"
            )
        g, ok = _versus(res, step, "p99", 1.0)
        L += ["", f"- goal, provocapi's added p99 <= the pass-through's + 1 ms: {_goal(ok)} ({g})"]
        L += _saturation(res, step)
    return L


def _saturation(res: Results, step: str) -> list[str]:
    """CPU per request at this open-loop rate against at maximum (closed loop, wrk): a
    fraction of the maximum is only that fraction of the core if the cost per request
    stays the same, and it does not (fewer requests share each wake-up of the loop)."""
    if step not in FRACTIONS:
        return []
    parts = []
    for n in GATEWAYS:
        x = res.tail.get(step, {}).get(n)
        m = res.max.get(n)
        if x is None or m is None or m.get("cpu_per_1k") is None:
            continue
        cpu = x.get("cpu_per_1k")
        if cpu is None or math.isnan(cpu):
            continue
        parts.append(
            f"{LABELS[n]} {cpu:.2f} against {m['cpu_per_1k']:.2f} at its maximum "
            f"({_ratio(cpu, m['cpu_per_1k'], '{:.2f}x')}; core busy {_f(x.get('busy'), '{:.0%}')})"
        )
    if not parts:
        return []
    return [f"- CPU s per 1k requests at this rate: {'; '.join(parts)}"]


def chart(json_file: Path, png: Path) -> str:
    try:
        py = ensure_venv(BENCH_VENV, "matplotlib", "matplotlib")
    except (subprocess.SubprocessError, OSError) as exc:
        return f"no chart (matplotlib venv: {exc})"
    r = subprocess.run(
        [str(py), str(BENCH / "sidebyside_chart.py"), str(json_file), str(png)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        return f"no chart: {r.stderr.strip()[-300:]}"
    return f"chart: {png.relative_to(REPO) if png.is_relative_to(REPO) else png}"


# --- main --------------------------------------------------------------------------------------


class OutOfTime(Exception):
    pass


def _terminate(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGALRM:
        raise OutOfTime("the time budget ran out")
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short durations: a smoke run")
    ap.add_argument("--out", type=Path, help="report (default bench/results/sidebyside-<date>.md)")
    ap.add_argument(
        "--oha",
        choices=("auto", "off"),
        default="auto",
        help="auto: oha (built into .cache/cargo when missing), off: openloop.py",
    )
    ap.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("rates", "stream", "memory"),
        help="leave a step out",
    )
    ap.add_argument(
        "--skip-target",
        action="append",
        default=[],
        choices=GATEWAYS,
        help="leave a gateway out (e.g. while developing)",
    )
    ap.add_argument(
        "--budget-min",
        type=float,
        default=30.0,
        help="stop everything after this many minutes of measuring",
    )
    ap.add_argument(
        "--litellm-server",
        choices=("uvicorn", "granian"),
        default="uvicorn",
        help="LiteLLM's HTTP server: its default (uvicorn) or --run_granian",
    )
    ap.add_argument(
        "--unique-prompts",
        action="store_true",
        help="max-throughput runs: every request's prompt differs (defeats caches)",
    )
    ap.add_argument("--rounds", type=int, help="alternated latency rounds (default 5, quick 3)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args(argv)
    d = QUICK if args.quick else FULL
    if args.rounds is not None:
        d = dataclasses.replace(d, rounds=args.rounds)
    started = dt.datetime.now()
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    stem = f"sidebyside-{started:%Y-%m-%d}" + ("-quick" if args.quick else "")
    out = args.out or results_dir / f"{stem}.md"
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, _terminate)

    say(
        f"==> side by side{' (--quick)' if args.quick else ''}: load average {loadavg()} on "
        f"{os.cpu_count()} cores"
    )
    if float(loadavg().split()[0]) > 0.5:
        say("    (!) the machine is not quiet: other work shares the cores; ratios drift")
    say("==> tools (install time not counted)")
    ensure_wrk()
    oha = ensure_oha(args.oha)
    litellm_py = LITELLM_VENV / "bin" / "python"
    if "litellm" not in args.skip_target:
        litellm_py = ensure_venv(LITELLM_VENV, LITELLM_SPEC, "litellm")
    say(f"    wrk {shutil.which('wrk')}; fixed rates: {oha or 'bench/openloop.py (no oha)'}")

    work = Path(tempfile.mkdtemp(prefix="provocapi-sidebyside-"))
    raw = out.with_suffix(".raw")
    raw.write_text(f"# raw outputs of bench/sidebyside.py, {started:%Y-%m-%d %H:%M:%S}\n")
    procs = Processes(work)
    run = Runner(raw, d, oha, work)
    env = Env(procs, work, LITELLM_VENV / "bin" / "litellm")
    env.litellm_granian = args.litellm_server == "granian"
    res = Results(f"{started:%Y-%m-%d %H:%M}", args.quick, loadavg())
    res.unique_prompts = args.unique_prompts
    res.command = " ".join(["bench/sidebyside.py", *(sys.argv[1:] if argv is None else argv)])
    res.machine = machine()
    res.speed_before = speed_probe()
    res.fixed_tool = "oha -q N --latency-correction" if oha else "bench/openloop.py"
    res.durations = {k: float(v) for k, v in asdict(d).items()}
    t0 = time.monotonic()
    signal.alarm(int(args.budget_min * 60))
    try:
        env.provocapi_key = create_key(work / "data")
        res.versions = _versions(litellm_py, oha, args.litellm_server)
        run_all(args, res, env, run, t0)
        signal.alarm(0)
        res.seconds = time.monotonic() - t0
        res.load_after = loadavg()
        res.speed_after = speed_probe()
        json_file = out.with_suffix(".json")
        json_file.write_text(json.dumps(asdict(res), indent=1, default=str) + "\n")
        text = report(res)
        out.write_text(text)
        say("")
        say(text)
        say(f"==> {chart(json_file, out.with_suffix('.png'))}")
        say(
            f"==> written: {out.relative_to(REPO) if out.is_relative_to(REPO) else out} "
            f"(+ .json, .png; raw tool outputs in {raw.name}) in {res.seconds / 60:.1f} min"
        )
        return 0
    except KeyboardInterrupt:
        say("\n==> interrupted: stopping everything")
        return 130
    except OutOfTime as exc:
        say(f"\n==> STOPPED: {exc} ({args.budget_min:g} min)")
        return 124
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
        say(f"\n==> FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        signal.alarm(0)
        procs.stop_all()
        if args.keep:
            say(f"    work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _versions(litellm_py: Path, oha: str | None, server: str) -> dict[str, str]:
    from importlib.metadata import version

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    v = {
        "provocapi": commit + (" (+ uncommitted changes)" if dirty else ""),
        "Python": sys.version.split()[0],
        "granian": version("granian"),
        "aiohttp": version("aiohttp"),
    }
    if litellm_py.exists():
        v["litellm"] = package_version(litellm_py, "litellm") + f" ({server})"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    v["wrk"] = (wrk.stdout + wrk.stderr).split(" [")[0].replace("wrk ", "").strip()
    if oha:
        v["oha"] = subprocess.run(
            [oha, "--version"], capture_output=True, text=True
        ).stdout.split()[-1]
    return v


if __name__ == "__main__":
    sys.exit(main())
