"""The OpenAI files/batches test double on the test's loop, and the CLI run against it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Set
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from harness.procs import subprocess_env
from provocapi.netutil import free_port

from .double import Double

KEY = "sk-test-batch-cli"


@dataclass
class Served:
    double: Double
    base_url: str

    def env(self, **extra: str) -> dict[str, str]:
        env = subprocess_env({"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": KEY})
        env.update(extra)
        return env


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    double = Double(KEY)
    runner = web.AppRunner(double.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Served(double, f"http://127.0.0.1:{port}/v1")
    finally:
        await runner.cleanup()
    assert not double.spec_errors, double.spec_errors


async def start_cli(served: Served, *args: str, **popen: object) -> asyncio.subprocess.Process:
    kw: dict[str, object] = {
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.PIPE,
        "env": served.env(),
    }
    kw.update(popen)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "provocapi", "batch", *args, **kw
    )  # type: ignore[arg-type]


async def cli(served: Served, *args: str, timeout: float = 30.0) -> Ran:
    proc = await start_cli(served, *args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def jsonl(path: Path, n: int, bad: Set[int] = frozenset()) -> Path:
    """n chat lines r0..r{n-1}; the ones in `bad` name a model that does not exist."""
    with path.open("w") as f:
        for i in range(n):
            body = {
                "model": "no-such-model" if i in bad else "m",
                "messages": [{"role": "user", "content": f"line {i}"}],
            }
            line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
            f.write(json.dumps({**line, "body": body}) + "\n")
    return path
