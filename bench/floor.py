"""The performance floor, in one command: provocapi against a minimal aiohttp proxy.

    .venv/bin/python bench/floor.py            # the measurement (about 6 minutes)
    .venv/bin/python bench/floor.py --quick    # a smoke run of every step (about 1.5 minutes)

What it measures (shared/design/PERFORMANCE.md; the issue "The performance floor"):

1. Throughput. Non-streaming chat with one fixed body (about 200 prompt tokens, `max_tokens`
   64, a 64-token answer), wrk with 64 connections: 5 s warm-up, then 15 s measured; three
   rounds alternating provocapi and the baseline (bench/baseline_proxy.py: Granian + uvloop +
   aiohttp, body forwarded unparsed); the median req/s of each and the ratio
   provocapi / baseline. A round counts only if the upstream alone (wrk straight to the
   simulator, same body) serves at least 3x the baseline's rate in that round, and only if no
   request failed.
2. Latency at a fixed rate of 50% of provocapi's median req/s, open loop (oha with
   --latency-correction, or bench/openloop.py when oha is not built): p50/p99 straight to the
   simulator, through provocapi, through the baseline; "added" is the difference to direct.
3. CPU per relayed stream chunk. 640 streamed answers (`"stream": true`, 64 tokens paced by
   the simulator at --token-delay-ms, so each chunk arrives on its own as from a real model),
   64 at a time, each read to its end (bench/streamload.py): CPU time of the server's whole
   process tree (utime+stime in /proc) over the run / SSE events the client received, and
   what provocapi adds per chunk over the baseline (its `provocapi_stream_chunks_total` is
   printed beside, as a cross-check).

Placement: the measured server (provocapi, or the baseline, never both at once) runs alone on
core 1 as one Granian worker with the same flags (one worker, ASGI, uvloop, http1, no access
log), started under `taskset -c 1` so every child process inherits the pin; wrk / oha and the
simulator (`python -m provocapi.sim`, faithful to trtllm-serve) run on core 0.

Prints each step; writes bench/results/floor-<date>.md (the raw tool outputs beside it in
floor-<date>.raw, not committed). Every process it starts has its own process group and is
killed on exit, Ctrl-C or error. wrk is installed with apt-get if missing; oha is used from
.cache/cargo/bin or PATH (build it once: --build-oha, or
`cargo install oha --locked --root .cache/cargo`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from machine_speed import SPEED_PROBE
from machine_speed import describe as speed_probe
from provocapi.netutil import free_port, wait_healthy  # stdlib only: no core loaded
from rounds import order as rounds_order

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
MODEL = "llama-3.1-8b-instruct"
CONNECTIONS = 64
SERVER_CPU = "1"
LOAD_CPU = "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# About 800 characters of plain English: ~200 prompt tokens with the chat template around it.
PROMPT = (
    "You are reviewing the operations runbook of a small company that serves language models "
    "to its customers through an OpenAI-compatible gateway. The gateway authenticates every "
    "request with an API key, applies per-tenant rate limits on requests and tokens, picks a "
    "worker that has capacity for the model, forwards the request, relays the answer as it "
    "streams back, and records how many prompt and completion tokens each tenant used. Last "
    "week one worker restarted during a traffic peak and several streams were cut halfway "
    "through. Write a short checklist that an engineer on call should follow when a worker "
    "becomes unhealthy: what to look at first, which metrics tell whether clients are "
    "affected, how to drain the worker safely, and what to write in the incident note."
)

# Every feature on: the key's tenant gets the default tier, limited at every level (key,
# tenant, model within tenant; requests and tokens) far above what the load can reach, so
# admission runs in full on every request and never refuses.
GATEWAY_CONFIG = """\
[[models]]
id = "{model}"
kind = "chat"
family = "llama3"
workers = ["{upstream}"]
capabilities = {{ tools = true, json_mode = true }}

[tiers.default]
key_rpm = 1000000000
key_tpm = 1000000000000
tenant_rpm = 1000000000
tenant_tpm = 1000000000000

[tiers.default.models."{model}"]
rpm = 1000000000
tpm = 1000000000000
"""


# A round counts only if the upstream alone served at least this many times the baseline
# (otherwise the upstream, not the gateway, may be what limits it); sidebyside.py applies it too.
UPSTREAM_HEADROOM = 3

UNIQUE_MARK = "@@N@@"
# --unique-prompts numbers its prompts from 0 to UNIQUE_CYCLE - 1, then over again, and carries
# the count on from one wrk run to the next (Runner.sequence): a prompt comes back only after
# ~40,000 others. That is more than twice the gateway's count cache (16,384 texts, emptied when
# full: rust/src/tokens/cache.rs), so every prompt the gateway counts is new to it, while the
# simulator remembers all of them (UPSTREAM_MEMO) and answers them at its fixed-body cost: the
# upstream alone stays far ahead of the targets, as the floor's 3x rule asks. (Never repeating
# a prompt made the simulator, which counts and plans each new prompt itself, the bottleneck:
# 2.2-2.7x the pass-through, rounds that did not count.)
UNIQUE_CYCLE = 40_000
UPSTREAM_MEMO = 49_152
UNIQUE_WORDS = f"a prompt new to the gateway each request: none back within {UNIQUE_CYCLE:,}"


def body(stream: bool, unique: bool = False) -> dict[str, object]:
    """The floor's chat body; `unique` starts the user message with a mark that the wrk
    script replaces by a per-request number (UNIQUE_CYCLE: none back within 40,000 requests,
    so the gateway's count cache never helps)."""
    prompt = f"Ticket {UNIQUE_MARK}. {PROMPT}" if unique else PROMPT
    b: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a concise, careful assistant."},
            {"role": "user", "content": prompt},
        ],
        "max_tokens": 64,
        "temperature": 0.7,
    }
    if stream:
        b["stream"] = True
    return b


@dataclass(frozen=True)
class Durations:
    warmup: float
    measure: float
    rounds: int
    latency: float
    latency_warmup: float
    streams: int  # streamed answers measured (64 at a time: 10 waves take ~14 s at 20 ms/token)
    stream_warmup: int


FULL = Durations(5, 15, 3, 15, 3, 640, 64)
QUICK = Durations(1, 3, 1, 3, 1, 128, 64)


def say(msg: str) -> None:
    print(msg, flush=True)


# --- processes: each in its own group, all killed at the end ------------------------------------


class Processes:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, argv: Sequence[str], cpu: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Granian's worker processes may outlive their parent for a moment
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _proc_stat(int(entry.name))
        if st is not None:
            children.setdefault(int(st[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_s(root: int) -> float:
    """utime+stime of the process tree, seconds."""
    ticks = 0
    for pid in tree(root):
        st = _proc_stat(pid)
        if st is not None:
            ticks += int(st[11]) + int(st[12])  # utime, stime (fields 14, 15)
    return ticks / CLK_TCK


def affinity(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def describe_tree(root: int) -> str:
    parts = []
    for pid in tree(root):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        parts.append(f"{pid}:{comm}@cpu{affinity(pid)}")
    return " ".join(parts)


# --- HTTP helpers (stdlib: the bench must not depend on what it measures) ----------------------


def http(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    status, raw, _ = http_full(url, data, headers, timeout)
    return status, raw


def http_full(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}


def chat(base: str, key: str, stream: bool) -> tuple[int, bytes, dict[str, str]]:
    return http_full(
        base + "/v1/chat/completions",
        json.dumps(body(stream)).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        timeout=30,
    )


def metric_sum(base: str, family: str) -> float | None:
    try:
        status, text = http(base + "/metrics", timeout=5)
    except OSError:
        return None
    if status != 200:
        return None
    total, seen = 0.0, False
    for line in text.decode(errors="replace").splitlines():
        if line.startswith(family + "{") or line.startswith(family + " "):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


# --- load generators ----------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    failed: int  # non-2xx/3xx + socket errors
    bytes: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return (self.requests - self.failed) / self.seconds if self.seconds else 0.0


def lua_script(path: Path, key: str, stream: bool, unique: bool = False) -> Path:
    payload = json.dumps(body(stream, unique), separators=(",", ":"))
    per_request = ""
    if unique:
        head, tail = payload.split(UNIQUE_MARK)
        per_request = f"""local n = 0
local head, tail = [==[{head}]==], [==[{tail}]==]
init = function(args)
  n = tonumber(args[1]) or 0
end
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. (n % {UNIQUE_CYCLE}) .. tail)
end
"""
    path.write_text(
        f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = [==[{payload}]==]
{per_request}done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'FLOOR {{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""
    )
    return path


def sequence_after(sequence: int, requests: int, failed: int) -> int:
    """Where the next run's prompt numbers start: past every number this run could have sent
    (the requests wrk counted, the failed ones, those still in flight at its end, and the one
    it makes at start and never sends)."""
    return sequence + requests + failed + CONNECTIONS + 1


def run_wrk(
    url: str,
    script: Path,
    seconds: float,
    sequence: int,
    record: Callable[[str, str], None],
    title: str,
) -> tuple[WrkResult, int]:
    """wrk once on the load core, its output recorded under `title`; its result, and where the
    next run's --unique-prompts numbers start (`sequence` is where this run's go on)."""
    opts = f"-t1 -c{CONNECTIONS} -d{seconds:g}s --timeout 10s"
    argv = ["taskset", "-c", LOAD_CPU, "wrk", *opts.split(), "-s", str(script), url]
    out = subprocess.run([*argv, "--", str(sequence)], capture_output=True, text=True,
                         timeout=seconds + 60)  # fmt: skip
    record(title, out.stdout + out.stderr)
    m = re.search(r"^FLOOR (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()[:500]}")
    r = json.loads(m.group(1))
    failed = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    result = WrkResult(
        r["requests"],
        r["duration_us"] / 1e6,
        failed,
        r["bytes"],
        r["p50_us"] / 1e3,
        r["p99_us"] / 1e3,
    )
    return result, sequence_after(sequence, r["requests"], failed)


class Runner:
    def __init__(self, raw: Path, d: Durations) -> None:
        self.raw = raw
        self.d = d
        self.sequence = 0  # the next --unique-prompts number (UNIQUE_CYCLE)

    def record(self, title: str, text: str) -> None:
        with self.raw.open("a") as f:
            f.write(f"\n### {dt.datetime.now():%H:%M:%S} {title}\n{text}\n")

    def wrk(self, url: str, script: Path, seconds: float, title: str) -> WrkResult:
        r, self.sequence = run_wrk(url, script, seconds, self.sequence, self.record, title)
        return r


def find_oha() -> str | None:
    local = REPO / ".cache" / "cargo" / "bin" / "oha"
    if local.exists():
        return str(local)
    return shutil.which("oha")


def build_oha() -> str | None:
    if shutil.which("cargo") is None:
        return None
    say("    building oha (cargo install oha --locked --root .cache/cargo; several minutes) ...")
    r = subprocess.run(
        ["cargo", "install", "oha", "--locked", "--root", str(REPO / ".cache" / "cargo")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if r.returncode != 0:
        say(f"    oha build failed: {r.stderr.strip().splitlines()[-1:]}")
    return find_oha()


@dataclass
class LatencyResult:
    tool: str
    rate: float
    sent: int
    failed: int
    p50_ms: float
    p99_ms: float


def fixed_rate(
    run: Runner, oha: str | None, url: str, key: str, body_file: Path, rate: float, title: str
) -> LatencyResult:
    d = run.d
    if oha is not None:
        opts = f"--no-tui --output-format json --worker-threads 1 -w -c {CONNECTIONS}"
        opts += f" -q {rate:.0f} --latency-correction"
        common = ["taskset", "-c", LOAD_CPU, oha, *opts.split(), "-m", "POST"]
        common += ["-T", "application/json", "-H", f"Authorization: Bearer {key}"]
        common += ["-D", str(body_file)]
        subprocess.run(
            [*common, "-z", f"{d.latency_warmup:g}s", url],
            capture_output=True,
            timeout=d.latency_warmup + 60,
        )
        out = subprocess.run(
            [*common, "-z", f"{d.latency:g}s", url],
            capture_output=True,
            text=True,
            timeout=d.latency + 60,
        )
        run.record(title, out.stdout + out.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"oha failed: {out.stderr.strip()[:500]}")
        j = json.loads(out.stdout)
        codes = j.get("statusCodeDistribution", {})
        ok = int(codes.get("200", 0))
        total = sum(int(v) for v in codes.values()) + sum(
            int(v) for v in j.get("errorDistribution", {}).values()
        )
        pct = j["latencyPercentiles"]
        return LatencyResult("oha", rate, total, total - ok, pct["p50"] * 1e3, pct["p99"] * 1e3)
    opts = f"--rate {rate:.0f} --duration {d.latency:g} --warmup {d.latency_warmup:g}"
    argv = ["taskset", "-c", LOAD_CPU, PY, str(BENCH / "openloop.py"), *opts.split()]
    argv += ["--connections", str(CONNECTIONS), "--url", url, "--body", str(body_file)]
    argv += ["--header", f"Authorization: Bearer {key}"]
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=d.latency + d.latency_warmup + 90
    )
    run.record(title, out.stdout + out.stderr)
    if out.returncode != 0:
        raise RuntimeError(f"openloop failed: {out.stderr.strip()[-500:]}")
    j = json.loads(out.stdout.strip().splitlines()[-1])
    return LatencyResult("openloop.py", rate, j["sent"], j["errors"], j["p50_ms"], j["p99_ms"])


# --- the targets --------------------------------------------------------------------------------


@dataclass
class Env:
    procs: Processes
    work: Path
    upstream: str
    key: str = ""
    gateway_port: int = field(default_factory=free_port)
    baseline_port: int = field(default_factory=free_port)
    config_template: str = GATEWAY_CONFIG
    before: Path | None = None  # another checkout, measured beside as "before"

    @property
    def gateways(self) -> list[str]:
        return ["provocapi", "before"] if self.before else ["provocapi"]

    def start_gateway(self, upstream: str, name: str = "provocapi") -> str:
        cfg = self.work / "gateway.toml"
        cfg.write_text(self.config_template.format(model=MODEL, upstream=upstream))
        argv = [PY, "-m", "provocapi", "serve", "--config", str(cfg), "--host", "127.0.0.1"]
        argv += ["--port", str(self.gateway_port), "--data-dir", str(self.work / "data")]
        env = {"PROVOCAPI_LOG_LEVEL": "WARNING"}
        if name == "before" and self.before is not None:
            # its own modules and core; the same data dir, so the same key (same schema)
            env["PYTHONPATH"] = str(self.before / "python")
        proc = self.procs.start(name, [*argv, "--workers", "1"], SERVER_CPU, env=env)
        base = f"http://127.0.0.1:{self.gateway_port}"
        try:
            wait_healthy(base + "/health", 60, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{name}: {exc}\n{self.procs.log_tail(name)}") from None
        return base

    def start_baseline(self, upstream: str) -> str:
        argv = [PY, str(BENCH / "baseline_proxy.py"), "--upstream", upstream]
        proc = self.procs.start("baseline", [*argv, "--port", str(self.baseline_port)], SERVER_CPU)
        base = f"http://127.0.0.1:{self.baseline_port}"
        # the baseline has no /health: it forwards it to the simulator, which has one
        try:
            wait_healthy(base + "/health", 60, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"baseline: {exc}\n{self.procs.log_tail('baseline')}") from None
        return base

    @contextlib.contextmanager
    def target(self, name: str, upstream: str | None = None) -> Iterator[str]:
        up = upstream or self.upstream
        base = self.start_baseline(up) if name == "baseline" else self.start_gateway(up, name)
        try:
            yield base
        finally:
            self.procs.stop(name)

    def pid(self, name: str) -> int:
        return self.procs.procs[name].pid


def start_upstream(procs: Processes, name: str, extra: Sequence[str] = ()) -> str:
    port = free_port()
    argv = [PY, "-m", "provocapi.sim", "--port", str(port), "--model", MODEL]
    argv += ["--output-tokens", "64", "--memo-entries", str(UPSTREAM_MEMO)]
    proc = procs.start(name, [*argv, *extra], LOAD_CPU)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/health", 60, proc)
    except RuntimeError as exc:
        raise RuntimeError(f"simulator: {exc}\n{procs.log_tail(name)}") from None
    return base


def create_key(data_dir: Path, tenant: str = "bench") -> str:
    """A new API key in `data_dir` (`provocapi keys create`)."""
    argv = [PY, "-m", "provocapi", "keys", "create", "--tenant", tenant]
    made = subprocess.run([*argv, "--data-dir", str(data_dir)], capture_output=True, text=True,
                          check=True, cwd=REPO)  # fmt: skip
    key = made.stdout.strip().splitlines()[-1]
    if not key.startswith("pk-prov-"):
        raise RuntimeError(f"no key in the output of keys create: {made.stdout!r}")
    return key


def check_answer(name: str, base: str, key: str) -> str:
    """One request through `base`, checked: 200 and a 64-token answer."""
    deadline = time.monotonic() + 15
    while True:
        status, raw, headers = chat(base, key, stream=False)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if status != 200:
        raise RuntimeError(f"{name}: HTTP {status}: {raw[:300]!r}")
    usage = json.loads(raw).get("usage") or {}
    note = f"{name:<9} 200, {len(raw)} bytes, usage {usage}"
    if usage.get("completion_tokens") != 64:
        note += "  (!) expected 64 completion tokens"
    if name != "baseline":
        limits = sorted(h for h in headers if h.startswith("x-ratelimit-limit-"))
        note += f"; admission: {', '.join(limits) if limits else '(!) no x-ratelimit headers'}"
    return note


# --- the steps ----------------------------------------------------------------------------------


@dataclass
class Round:
    n: int
    rates: dict[str, float]
    cpu_per_req_ms: dict[str, float]
    busy: dict[str, float]  # CPU seconds of the server per wall second: < 1 when others ran
    failed: dict[str, int]
    counts: bool
    why: str


def measure(env: Env, run: Runner, name: str, url: str, script: Path) -> tuple[WrkResult, float]:
    """Warm-up, then the measured run; returns wrk's result and the server tree's CPU seconds."""
    d = run.d
    run.wrk(url, script, d.warmup, f"{name} warm-up")
    pid = env.pid(name)
    cpu0 = tree_cpu_s(pid)
    r = run.wrk(url, script, d.measure, f"{name} measured")
    return r, tree_cpu_s(pid) - cpu0


def throughput_rounds(env: Env, run: Runner, script: Path) -> list[Round]:
    d = run.d
    rounds = []
    path = "/v1/chat/completions"
    for n in range(1, d.rounds + 1):
        names = [*env.gateways, "baseline"]
        # each target goes first in turn, after each other one in turn (rounds.order)
        order = rounds_order(names, n - 1)
        rates: dict[str, float] = {}
        cpu_req: dict[str, float] = {}
        busy: dict[str, float] = {}
        failed: dict[str, int] = {}
        for name in order:
            with env.target(name) as base:
                say(f"    round {n}: {name:<9} (pinned: {describe_tree(env.pid(name))})")
                r, cpu = measure(env, run, name, base + path, script)
            rates[name], failed[name] = r.rate, r.failed
            cpu_req[name] = cpu / max(1, r.requests) * 1e3
            busy[name] = cpu / r.seconds
            say(
                f"    round {n}: {name:<9} {r.rate:9.0f} req/s  failed {r.failed}  "
                f"CPU {cpu_req[name]:.3f} ms/req (core {busy[name]:.0%} ours)  "
                f"wrk p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms"
            )
        run.wrk(env.upstream + path, script, d.warmup, "direct warm-up")
        r = run.wrk(env.upstream + path, script, d.measure, "direct measured")
        rates["direct"], failed["direct"] = r.rate, r.failed
        say(f"    round {n}: {'direct':<9} {r.rate:9.0f} req/s  failed {r.failed}")
        why = []
        if rates["direct"] < UPSTREAM_HEADROOM * rates["baseline"]:
            why.append(
                f"upstream alone {rates['direct']:.0f} < {UPSTREAM_HEADROOM}x baseline "
                f"{UPSTREAM_HEADROOM * rates['baseline']:.0f}"
            )
        if any(failed.values()):
            why.append(f"failed requests {failed}")
        rnd = Round(n, rates, cpu_req, busy, failed, not why, "; ".join(why))
        ratio = rates["provocapi"] / rates["baseline"] if rates["baseline"] else 0.0
        verdict = "counts" if rnd.counts else f"DOES NOT COUNT: {rnd.why}"
        vs_before = ""
        if "before" in rates:
            vs_before = f"; after/before {rates['provocapi'] / rates['before']:.3f}"
        say(
            f"    round {n}: ratio {ratio:.3f}{vs_before}; direct/baseline "
            f"{rates['direct'] / max(1.0, rates['baseline']):.1f}x; {verdict}"
        )
        rounds.append(rnd)
    return rounds


def streamload(run: Runner, url: str, key: str, body_file: Path, n: int, title: str) -> StreamLoad:
    argv = ["taskset", "-c", LOAD_CPU, PY, str(BENCH / "streamload.py"), "--url", url]
    argv += ["--body", str(body_file), "--streams", str(n), "--connections", str(CONNECTIONS)]
    argv += ["--header", f"Authorization: Bearer {key}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    run.record(title, out.stdout + out.stderr)
    if out.returncode != 0:
        raise RuntimeError(f"streamload failed: {out.stderr.strip()[-500:]}")
    j = json.loads(out.stdout.strip().splitlines()[-1])
    return StreamLoad(j["streams"], j["failed"], j["events"], j["seconds"])


@dataclass
class StreamLoad:
    streams: int
    failed: int
    events: int  # SSE events relayed to the client, [DONE] not counted
    seconds: float


@dataclass
class StreamCpu:
    streams: int
    failed: int
    chunks: int
    metric_chunks: float | None  # provocapi_stream_chunks_total's delta, to cross-check
    cpu_s: float
    busy: float

    @property
    def us_per_chunk(self) -> float:
        return self.cpu_s / self.chunks * 1e6 if self.chunks else float("nan")

    @property
    def ms_per_stream(self) -> float:
        return self.cpu_s / self.streams * 1e3 if self.streams else float("nan")

    @property
    def events_per_stream(self) -> float:
        return self.chunks / self.streams if self.streams else float("nan")


def stream_cpu(env: Env, run: Runner, body_file: Path, upstream: str) -> dict[str, StreamCpu]:
    """CPU of the server's tree over whole streams, per SSE event the client received."""
    d = run.d
    out: dict[str, StreamCpu] = {}
    url_path = "/v1/chat/completions"
    family = "provocapi_stream_chunks_total"
    for name in ("provocapi", "baseline"):
        with env.target(name, upstream) as base:
            url = base + url_path
            streamload(run, url, env.key, body_file, d.stream_warmup, f"{name} stream warm-up")
            metric0 = metric_sum(base, family) if name == "provocapi" else None
            pid = env.pid(name)
            cpu0, t0 = tree_cpu_s(pid), time.monotonic()
            r = streamload(run, url, env.key, body_file, d.streams, f"{name} streams")
            cpu, wall = tree_cpu_s(pid) - cpu0, time.monotonic() - t0
            metric1 = metric_sum(base, family) if name == "provocapi" else None
        metric = metric1 - metric0 if metric0 is not None and metric1 is not None else None
        res = StreamCpu(r.streams, r.failed, r.events, metric, cpu, cpu / wall)
        out[name] = res
        check = f", /metrics says {metric:.0f}" if metric is not None else ""
        say(
            f"    {name:<9} {r.streams} streams ({r.failed} failed) in {r.seconds:.1f} s, "
            f"{r.events} chunks{check}; CPU {cpu:.2f} s (core {res.busy:.0%} ours): "
            f"{res.us_per_chunk:.1f} us/chunk, {res.ms_per_stream:.3f} ms/stream"
        )
    return out


# --- report -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def versions() -> str:
    def v(mod: str) -> str:
        try:
            from importlib.metadata import version

            return version(mod)
        except Exception:
            return "?"

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    # where the measured gateway comes from (PYTHONPATH may point at another build)
    probe = (
        "import os, time, provocapi, provocapi._core as c; print(os.path.dirname("
        "provocapi.__file__), time.strftime('%Y-%m-%d %H:%M', time.localtime("
        "os.path.getmtime(c.__file__))))"
    )
    where = subprocess.run([PY, "-c", probe], capture_output=True, text=True).stdout.split()
    origin = f" (imported from {where[0]}, _core built {where[1]} {where[2]})" if where else ""
    return (
        f"provocapi {commit}{' (+ uncommitted changes)' if dirty else ''}{origin}, "
        f"Python {platform.python_version()}, granian {v('granian')}, aiohttp {v('aiohttp')}, "
        f"uvloop {v('uvloop')}, {wrk}"
    )


def tree_commit(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(
    args: argparse.Namespace,
    d: Durations,
    rounds: list[Round],
    lat: dict[str, LatencyResult],
    stream: dict[str, StreamCpu],
    load_before: str,
    speed_before: str,
    started: dt.datetime,
    token_delay: float,
) -> str:
    counted = [r for r in rounds if r.counts] or rounds
    valid = any(r.counts for r in rounds)

    def med(name: str, rs: list[Round] = counted) -> float:
        return statistics.median(r.rates[name] for r in rs)

    p, b, direct = med("provocapi"), med("baseline"), med("direct")
    ratio = p / b if b else float("nan")
    lines = [
        f"# The performance floor, {started:%Y-%m-%d %H:%M}" + (" (--quick)" if args.quick else ""),
        "",
        f"- machine: {machine()}; load average {load_before} before, {loadavg()} after; "
        f"speed probe {speed_before} before, {speed_probe()} after ({SPEED_PROBE})",
        f"- versions: {versions()}",
        f"- method: `{args.command_line}`: the measured server alone "
        f"on core {SERVER_CPU} (one Granian worker, ASGI, uvloop, http1), wrk/oha and the "
        f"simulator on core {LOAD_CPU}; non-streaming chat, ~200 prompt tokens "
        f"({UNIQUE_WORDS if args.unique_prompts else 'one fixed body'}), "
        f"64-token answer; wrk c={CONNECTIONS}, {d.warmup:g} s warm-up + {d.measure:g} s measured, "
        f"{d.rounds} alternating round(s), median of the rounds that count.",
        "",
        "| | req/s (median) | vs baseline | CPU per request (median) | vs baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    before = "before" in rounds[0].rates
    cpu = {
        n: statistics.median(r.cpu_per_req_ms[n] for r in counted)
        for n in ("provocapi", "baseline", *(["before"] if before else []))
    }
    cpu_ratio = cpu["baseline"] / cpu["provocapi"] if cpu["provocapi"] else float("nan")
    lines += [
        f"| provocapi | {p:,.0f} | **{ratio:.3f}x** | {cpu['provocapi']:.3f} ms | "
        f"{cpu_ratio:.3f}x |",
        *(
            [
                f"| before ({args.before} at {tree_commit(args.before)}) | {med('before'):,.0f} | "
                f"{med('before') / b:.3f}x | {cpu['before']:.3f} ms | "
                f"{cpu['baseline'] / cpu['before']:.3f}x |"
            ]
            if before
            else []
        ),
        f"| baseline (aiohttp pass-through) | {b:,.0f} | 1x | {cpu['baseline']:.3f} ms | 1x |",
        f"| upstream alone (simulator, direct) | {direct:,.0f} | {direct / b:.1f}x | | |",
        "",
        "CPU per request: the server tree's CPU time over the measured run / requests (its "
        "ratio is baseline / provocapi, higher is better). 'Core ours' below: the server's "
        "CPU seconds per second; well under 100% means other work shared core 1 and the "
        "figures are skewed (fewer req/s, and cheaper requests from bigger batches).",
        "",
    ]
    if before:
        per_round = statistics.median(
            r.rates["provocapi"] / r.rates["before"] for r in counted if r.rates["before"]
        )
        lines += [
            f"provocapi against the before tree: **{per_round:.3f}x** req/s (median of the "
            "per-round ratios; each round runs both on the same machine state).",
            "",
        ]
    if not valid:
        lines += [
            "**No round counts** (see below): the ratio is shown, but is not a valid measurement.",
            "",
        ]
    lines += [
        "| round | provocapi req/s | baseline req/s | direct req/s | ratio | core ours "
        "(provocapi, baseline) | counts |" + (" before req/s | after/before |" if before else ""),
        "|---:|---:|---:|---:|---:|---:|---|" + ("---:|---:|" if before else ""),
    ]
    for r in rounds:
        lines.append(
            f"| {r.n} | {r.rates['provocapi']:,.0f} | {r.rates['baseline']:,.0f} | "
            f"{r.rates['direct']:,.0f} | {r.rates['provocapi'] / r.rates['baseline']:.3f} | "
            f"{r.busy['provocapi']:.0%}, {r.busy['baseline']:.0%} | "
            f"{'yes' if r.counts else 'no: ' + r.why} |"
            + (
                f" {r.rates['before']:,.0f} | {r.rates['provocapi'] / r.rates['before']:.3f} |"
                if before
                else ""
            )
        )
    lines.append("")
    if lat:
        dl = lat["direct"]
        lines += [
            f"Latency at a fixed {dl.rate:,.0f} req/s (50% of provocapi's median), open loop "
            f"({dl.tool}, measured from the scheduled send time), {d.latency:g} s:",
            "",
            "| | p50 | p99 | added p50 | added p99 | failed/sent |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, lr in lat.items():
            added = (
                f"{lr.p50_ms - dl.p50_ms:+.2f} ms | {lr.p99_ms - dl.p99_ms:+.2f} ms"
                if name != "direct"
                else " | "
            )
            lines.append(
                f"| {name} | {lr.p50_ms:.2f} ms | {lr.p99_ms:.2f} ms | {added} | "
                f"{lr.failed}/{lr.sent} |"
            )
        lines.append("")
    if stream:
        lines += [
            f"CPU per relayed stream chunk: {d.streams} streamed chats, 64-token answers paced "
            f"at {token_delay:g} ms per token by the simulator, {CONNECTIONS} at a time, each "
            "read to its end; CPU of the server's process tree / SSE events relayed:",
            "",
            "| | CPU per chunk | CPU per stream | SSE events per stream | core ours |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, s in stream.items():
            lines.append(
                f"| {name} | {s.us_per_chunk:.1f} µs | {s.ms_per_stream:.3f} ms | "
                f"{s.events_per_stream:.1f} | {s.busy:.0%} |"
            )
        if "provocapi" in stream and "baseline" in stream:
            per_chunk = stream["provocapi"].us_per_chunk - stream["baseline"].us_per_chunk
            lines += [
                "",
                f"Added by provocapi over the pass-through (parse, rewrite, re-frame, accounting, "
                f"and its per-request work spread over the chunks): **{per_chunk:+.1f} µs per "
                "chunk**.",
            ]
        lines.append("")
    lines += [
        "Targets (shared/design/PERFORMANCE.md): ratio >= 0.5x (issue), 0.8x (goal); added p99 "
        "<= 1 ms at half load; CPU per relayed chunk <= 10 µs.",
        "",
    ]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    say("==> wrk is missing: apt-get install -y wrk")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)


def wait_quiet(limit_s: float, threshold: float = 0.8) -> None:
    deadline = time.monotonic() + limit_s
    while float(loadavg().split()[0]) >= threshold and time.monotonic() < deadline:
        say(f"    waiting for a quiet machine: load average {loadavg()}")
        time.sleep(15)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short durations: a smoke run")
    ap.add_argument("--out", type=Path, help="report file (default bench/results/floor-<date>.md)")
    ap.add_argument(
        "--config", type=Path, help="gateway config template; {upstream} and {model} are filled in"
    )
    ap.add_argument(
        "--oha",
        choices=("auto", "build", "off"),
        default="auto",
        help="auto: oha if built, else bench/openloop.py; build: build it if missing",
    )
    ap.add_argument(
        "--token-delay-ms",
        type=float,
        default=20.0,
        help="pace of the simulator's tokens in the streaming step",
    )
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds for the 1-minute load average to fall below 0.8",
    )
    ap.add_argument(
        "--unique-prompts",
        action="store_true",
        help="throughput rounds: every request's prompt is new to the gateway (one of "
        f"{UNIQUE_CYCLE:,}, none back within {UNIQUE_CYCLE:,} requests: past its count cache)",
    )
    ap.add_argument(
        "--before",
        type=Path,
        metavar="TREE",
        help="also measure provocapi from another checkout (its python/ and built core), "
        "alternated in every throughput and latency round: a before/after in one run",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="throughput rounds (default 3, 1 with --quick): more to outvote a noisy host",
    )
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (configs, server logs) for a post-mortem",
    )
    ap.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("latency", "stream"),
        help="leave a step out",
    )
    args = ap.parse_args(argv)
    args.command_line = " ".join(["bench/floor.py", *(sys.argv[1:] if argv is None else argv)])
    d = QUICK if args.quick else FULL
    if args.rounds:
        d = dataclasses.replace(d, rounds=max(1, args.rounds))
    started = dt.datetime.now()
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    stem = f"floor-{started:%Y-%m-%d}" + ("-quick" if args.quick else "")
    out = args.out or results / f"{stem}.md"
    raw = out.with_suffix(".raw")
    raw.write_text(f"# raw outputs of bench/floor.py, {started:%Y-%m-%d %H:%M:%S}\n")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet)
    load_before = loadavg()
    speed_before = speed_probe()
    say(
        f"==> the performance floor{' (--quick)' if args.quick else ''}; load average "
        f"{load_before} on {os.cpu_count()} cores"
    )
    if float(load_before.split()[0]) > 0.5:
        say("    (!) the machine is not quiet: other work shares the cores; ratios drift")
    ensure_wrk()
    oha = None if args.oha == "off" else find_oha()
    if oha is None and args.oha == "build":
        oha = build_oha()
    say(f"    wrk: {shutil.which('wrk')}; fixed-rate tool: {oha or 'bench/openloop.py (no oha)'}")

    work = Path(tempfile.mkdtemp(prefix="provocapi-floor-"))
    procs = Processes(work)
    run = Runner(raw, d)
    try:
        say(f"==> upstream: the simulator on core {LOAD_CPU} (--output-tokens 64)")
        upstream = start_upstream(procs, "sim")
        env = Env(procs, work, upstream)
        if args.before:
            env.before = args.before.resolve()
            if not (env.before / "python" / "provocapi").is_dir():
                raise RuntimeError(f"--before {args.before}: no python/provocapi in it")
        if args.config:
            env.config_template = args.config.read_text()
        say("==> an API key for provocapi")
        env.key = create_key(work / "data")
        script = lua_script(work / "chat.lua", env.key, False, args.unique_prompts)
        body_file = work / "body.json"
        body_file.write_text(json.dumps(body(False)))
        stream_body = work / "stream.json"
        stream_body.write_text(json.dumps(body(True)))

        say("==> one checked request through each target")
        say("    " + check_answer("direct", upstream, env.key))
        for name in (*env.gateways, "baseline"):
            with env.target(name) as base:
                say("    " + check_answer(name, base, env.key))
                if name != "baseline":
                    est = metric_sum(base, "provocapi_token_estimates_total")
                    say(
                        "    provocapi counts prompt tokens with "
                        + ("the model's tokenizer" if not est else "(!) the fallback estimate")
                    )

        say(
            f"==> throughput: wrk c={CONNECTIONS}, {d.warmup:g} s warm-up + {d.measure:g} s, "
            f"{d.rounds} alternating round(s)"
        )
        rounds = throughput_rounds(env, run, script)
        counted = [r for r in rounds if r.counts] or rounds
        p_med = statistics.median(r.rates["provocapi"] for r in counted)

        lat: dict[str, LatencyResult] = {}
        if "latency" not in args.skip:
            rate = max(1.0, 0.5 * p_med)
            say(
                f"==> latency at a fixed {rate:.0f} req/s (50% of provocapi's median), "
                f"{d.latency:g} s each, {'oha' if oha else 'openloop.py'}"
            )
            path = "/v1/chat/completions"
            lat["direct"] = fixed_rate(
                run, oha, upstream + path, env.key, body_file, rate, "direct fixed rate"
            )
            for name in (*env.gateways, "baseline"):
                with env.target(name) as base:
                    lat[name] = fixed_rate(
                        run, oha, base + path, env.key, body_file, rate, f"{name} fixed rate"
                    )
            for name, lr in lat.items():
                say(
                    f"    {name:<9} p50 {lr.p50_ms:7.2f} ms  p99 {lr.p99_ms:7.2f} ms  "
                    f"({lr.failed} failed of {lr.sent})"
                )

        stream: dict[str, StreamCpu] = {}
        if "stream" not in args.skip:
            say(
                f"==> CPU per relayed stream chunk: a second simulator paced at "
                f"{args.token_delay_ms:g} ms/token, {d.streams} streams, {CONNECTIONS} at a time"
            )
            paced = start_upstream(
                procs, "sim-paced", ["--token-delay-ms", f"{args.token_delay_ms:g}"]
            )
            stream = stream_cpu(env, run, stream_body, paced)
            procs.stop("sim-paced")

        text = report(
            args, d, rounds, lat, stream, load_before, speed_before, started, args.token_delay_ms
        )
        out.write_text(text)
        say("")
        say(text)
        say(
            f"==> written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out} "
            f"(raw tool outputs: {raw.name})"
        )
        return 0
    except KeyboardInterrupt:
        say("\n==> interrupted: stopping everything")
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        say(f"\n==> FAILED: {exc}")
        return 1
    finally:
        procs.stop_all()
        if args.keep:
            say(f"    work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
