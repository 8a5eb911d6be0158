"""Requests as large as the gateway takes: none of them stalls the others.

A 16 MiB prompt over the context window is refused 400 `context_length_exceeded`
while `/health` keeps answering (the count stops past the window and runs on a
thread); an embeddings request over OpenAI's limits is refused naming the limit,
and 2,048 inputs, the most it takes, are answered. The gateway here has its own
small fleet: the session stack takes bodies of 64 KiB only.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from harness.procs import PY, Proc, create_key, subprocess_env
from harness.proctree import granian_workers
from harness.waiting import wait_healthy
from provocapi.netutil import free_ports

CHAT = "llama-3.1-8b-instruct"
EMBED = "nomic-embed-v1.5"
MIB = 1 << 20
POLL_HEALTH = Path(__file__).parents[1] / "harness" / "poll_health.py"


@dataclass
class Fleet:
    port: int
    key: str
    worker: int  # the Granian worker's pid: its main thread runs the event loop


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("large")
    gw_port, chat_port, embed_port = free_ports(3)
    procs: list[Proc] = []
    try:
        for model, port, args in (
            (CHAT, chat_port, ["--family", "llama3", "--ttft-ms", "0", "--token-delay-ms", "0"]),
            (EMBED, embed_port, ["--embedding", "--dimensions", "768"]),
        ):
            cmd = [PY, "-m", "provocapi", "worker-sim", "--port", str(port), "--model", model]
            procs.append(Proc(f"sim-{model}", [*cmd, *args], root))
        config = root / "provocapi.toml"
        config.write_text(
            textwrap.dedent(
                f"""\
                [server]
                max_body_bytes = {32 * MIB}

                [[models]]
                id = "{CHAT}"
                kind = "chat"
                family = "llama3"
                context_length = 131072
                workers = ["http://127.0.0.1:{chat_port}"]

                [[models]]
                id = "{EMBED}"
                kind = "embedding"
                dimensions = 768
                aliases = ["text-embedding-3-small"]
                workers = ["http://127.0.0.1:{embed_port}"]
                """
            )
        )
        key = create_key(root / "data", "main")
        for proc, port in zip(procs, (chat_port, embed_port), strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        gateway = Proc(
            "gateway",
            [
                PY, "-m", "provocapi", "serve", "--config", str(config), "--host", "127.0.0.1",
                "--port", str(gw_port), "--data-dir", str(root / "data"),
            ],
            root,
        )  # fmt: skip
        procs.append(gateway)
        wait_healthy(f"http://127.0.0.1:{gw_port}/health", gateway)
        (worker,) = granian_workers(gateway.popen.pid)
        yield Fleet(gw_port, key, worker)
    finally:
        for proc in reversed(procs):
            proc.stop()


def post(fleet: Fleet, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    """One POST of ready bytes (sent from a buffer: no GIL held while it goes out)."""
    conn = http.client.HTTPConnection("127.0.0.1", fleet.port, timeout=120)
    try:
        headers = {"Authorization": f"Bearer {fleet.key}", "Content-Type": "application/json"}
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


class HealthPoller:
    """GET /health back to back on one connection, from a process of its own
    (harness/poll_health.py: pytest's pauses are not the gateway's); the latency of
    each answer, on `time.monotonic()`."""

    def __init__(self, port: int) -> None:
        self.popen = subprocess.Popen(
            [PY, str(POLL_HEALTH), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=subprocess_env(),
        )
        self.answers: list[tuple[float, float]] = []  # (finished at, latency)
        assert self.popen.stdout is not None
        assert self.popen.stdout.readline() == b"ready\n"

    def stop(self) -> None:
        out, _ = self.popen.communicate(timeout=60)  # closes stdin: the poller's signal
        assert self.popen.returncode == 0, out
        self.answers = [(float(a), float(b)) for a, b in map(bytes.split, out.splitlines())]

    def longest(self, start: float, end: float) -> float:
        """The longest answer in flight at any time between start and end."""
        return max(
            (lat for done, lat in self.answers if done >= start and done - lat <= end), default=0.0
        )


TICK_S = 1 / os.sysconf("SC_CLK_TCK")
# admission/gate.py's count threads lower themselves to SCHED_IDLE (or else nice 19)
SCHED_IDLE, COUNT_NICE = 5, 19


def run_queue_wait_s(pid: int) -> float:
    """How long the process's main thread (the event loop's) has waited, runnable, for a
    core given to other threads or processes (/proc/PID/task/PID/schedstat, field 2)."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the process's main thread (the loop's) and of its count
    threads (SCHED_IDLE or nice 19), from /proc/PID/task/*/stat."""
    loop = count = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) * TICK_S  # utime + stime
            if int(tid) == pid:
                loop = cpu
            elif int(fields[38]) == SCHED_IDLE or int(fields[16]) == COUNT_NICE:
                count += cpu
    return loop, count


@dataclass
class Stall:
    alone: float  # the longest /health answer over 1 s before the request
    during: float  # the longest while the request ran
    waited: float  # the loop thread's run-queue wait while the request ran
    loop_cpu: float  # CPU of the loop thread while the request ran
    count_cpu: float  # and of the count threads

    @property
    def own(self) -> float:
        """`during` less the time the kernel gave the loop's core to others: on a busy
        machine (other tests' servers, a build) the same few tens of ms of our own
        work stretch several times over. The wait over the whole request is taken
        off, so this reads low when the loop also waited outside the worst answer."""
        return self.during - self.waited

    def bound(self) -> float:
        # Once the loop was held for the whole count (13.9 s for a 16 MB word). Now only
        # the JSON decode, depth check and upstream encode of the body hold it: 0.02-0.08
        # s here, alone or beside CPU hogs. In full runs of the suite (CI, and here) the
        # one-word prompt's has also been 0.18-0.59 s, for a cause not found yet (see
        # loop_cpu in the message); counting on the loop is caught by `count_cpu` below.
        return max(10 * self.alone, 1.0)

    def __str__(self) -> str:
        return (
            f"/health took {self.during:.3f}s while the request ran (alone: {self.alone:.3f}s); "
            f"the loop thread waited {self.waited:.3f}s on the run queue and used "
            f"{self.loop_cpu:.2f}s of CPU meanwhile, the count threads {self.count_cpu:.2f}s"
        )

    __repr__ = __str__  # pytest shows an assertion message's repr


def health_while(fleet: Fleet, send: object) -> tuple[Stall, object]:
    """How /health answered before and while `send()` ran, and its result."""
    poller = HealthPoller(fleet.port)
    try:
        time.sleep(0.2)  # connected, warm
        t0 = time.monotonic()
        time.sleep(1.0)
        t1 = time.monotonic()
        waited0 = run_queue_wait_s(fleet.worker)
        loop0, count0 = thread_cpu_s(fleet.worker)
        result = send()  # type: ignore[operator]
        waited = run_queue_wait_s(fleet.worker) - waited0
        loop1, count1 = thread_cpu_s(fleet.worker)
        t2 = time.monotonic()
    finally:
        poller.stop()
    assert len(poller.answers) > 10, poller.answers  # it did poll throughout
    stall = Stall(
        poller.longest(t0, t1), poller.longest(t1, t2), waited, loop1 - loop0, count1 - count0
    )
    return stall, result


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * (16 * MIB), id="single-word"),
        pytest.param(
            ("the quick brown fox jumps over the lazy dog. " * 400_000)[: 16 * MIB], id="prose"
        ),
    ],
)
def test_a_16_mib_prompt_is_refused_while_health_keeps_answering(fleet: Fleet, text: str) -> None:
    body = orjson.dumps(
        {"model": CHAT, "messages": [{"role": "user", "content": text}], "max_tokens": 16}
    )
    stall, result = health_while(fleet, lambda: post(fleet, "/v1/chat/completions", body))
    status, doc = result  # type: ignore[misc]
    err = doc["error"]
    assert status == 400, doc
    assert (err["code"], err["param"]) == ("context_length_exceeded", "messages")  # type: ignore[index]
    assert "maximum context length is 131072 tokens" in err["message"]  # type: ignore[index]
    assert stall.own < stall.bound(), stall
    if text[:2] == "aa":
        # the split reads the whole 16 MiB word (0.25 s of CPU here): on a count thread,
        # not on the loop (counted there, the loop held /health 0.32 s of its own)
        assert stall.count_cpu >= 0.05, stall


def embed_body(inputs: object, **extra: object) -> bytes:
    return orjson.dumps({"model": "text-embedding-3-small", "input": inputs, **extra})


def test_30000_inputs_are_refused_at_once_naming_the_limit(fleet: Fleet) -> None:
    body = embed_body(["a"] * 30_000)
    stall, result = health_while(fleet, lambda: post(fleet, "/v1/embeddings", body))
    status, doc = result  # type: ignore[misc]
    err = doc["error"]
    assert status == 400, doc
    assert (err["code"], err["param"]) == ("invalid_value", "input")  # type: ignore[index]
    assert "at most 2048 inputs" in err["message"] and "30000" in err["message"]  # type: ignore[index]
    assert stall.own < stall.bound(), stall


def test_2048_inputs_are_answered_as_json_floats(fleet: Fleet) -> None:
    status, doc = post(fleet, "/v1/embeddings", embed_body(["a"] * 2048, encoding_format="float"))
    assert status == 200, doc
    data = doc["data"]
    assert isinstance(data, list) and len(data) == 2048
    assert [d["index"] for d in data] == list(range(2048))
    first = data[0]["embedding"]
    assert len(first) == 768 and all(isinstance(x, float) for x in first)
    assert abs(sum(x * x for x in first) - 1.0) < 1e-3  # the simulator's unit vectors


def test_an_input_over_its_token_limit_is_named(fleet: Fleet) -> None:
    # no tokenizer for this model: the estimate, one token per 4 bytes
    long = "word " * 7000  # 35,000 bytes: about 8,750 tokens, over 8,192
    status, doc = post(fleet, "/v1/embeddings", embed_body(["short", "also short", long]))
    err = doc["error"]
    assert status == 400, doc
    assert (err["code"], err["param"]) == ("context_length_exceeded", "input[2]")  # type: ignore[index]
    assert "8192 tokens" in err["message"]  # type: ignore[index]
    status, doc = post(fleet, "/v1/embeddings", embed_body(long))
    assert (status, doc["error"]["param"]) == (400, "input")  # type: ignore[index]


def test_a_request_over_300000_tokens_is_refused(fleet: Fleet) -> None:
    inputs = ["word " * 6400] * 40  # 8,000 tokens each by the estimate: 320,000 in all
    status, doc = post(fleet, "/v1/embeddings", embed_body(inputs))
    err = doc["error"]
    assert status == 400, doc
    assert (err["code"], err["param"]) == ("max_tokens_per_request", "input")  # type: ignore[index]
    assert "Requested 320000 tokens, max 300000 tokens per request" in err["message"]  # type: ignore[index]
    status, doc = post(fleet, "/v1/embeddings", embed_body(inputs[:36]))  # 288,000
    assert status == 200, doc
