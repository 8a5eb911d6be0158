"""`provocapi serve` as a test runs it: from a config text (or the embedded default)
in a directory of its own, on a free loopback port; started, stopped, killed -9 and
started again on the same port and data."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx2
from provocapi.netutil import free_port

from .procs import PY, Proc, create_key, subprocess_env
from .waiting import poll, wait_healthy

HOST = "127.0.0.1"


class Gateway:
    """A gateway in `root` (its config, data dir and logs). `config` is TOML text
    (dedented), or None for the embedded default; `workers` None leaves serve's default;
    `env` adds to the environment. Nothing runs until start()."""

    def __init__(
        self,
        root: Path,
        config: str | None = None,
        *,
        workers: int | None = None,
        env: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        port: int | None = None,
        name: str = "gateway",
        args: Sequence[str] = (),
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = root / "provocapi.toml"
            self.config_path.write_text(textwrap.dedent(config))
        self.data_dir = data_dir or root / "data"
        self.port = port or free_port()
        self.workers = workers
        self.env = dict(env or {})
        self.name = name
        self.args = list(args)  # more `serve` flags (--no-auth, ...)
        self.proc: Proc | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The launcher's pid (also its process group's id)."""
        assert self.proc is not None, "not started"
        return self.proc.pid

    def command(self) -> list[str]:
        cmd = [PY, "-m", "provocapi", "serve", "--host", HOST, "--port", str(self.port),
               "--data-dir", str(self.data_dir)]  # fmt: skip
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        return cmd + self.args

    def start(self, timeout_s: float = 60.0, ready: str = "/health") -> Gateway:
        """Start serve and wait until `ready` answers 200; a failed start is stopped and
        raises with the gateway's output."""
        self.launch()
        self.wait_ready(timeout_s, ready)
        return self

    def launch(self) -> None:
        """Start serve without waiting (several gateways start side by side)."""
        self._starts += 1
        name = self.name if self._starts == 1 else f"{self.name}-{self._starts}"
        self.proc = Proc(name, self.command(), self.root, env=subprocess_env(self.env))

    def wait_ready(self, timeout_s: float = 60.0, ready: str = "/health") -> None:
        assert self.proc is not None, "not launched"
        try:
            wait_healthy(self.url + ready, self.proc, timeout_s)
        except BaseException:
            self.proc.stop()
            raise

    def stop(self, grace_s: float = 20.0) -> None:
        if self.proc is not None:
            self.proc.stop(grace_s)

    def kill9(self) -> None:
        """The whole process group at once: no shutdown code runs anywhere."""
        assert self.proc is not None, "not started"
        self.proc.kill9()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def output(self, limit: int = 8000) -> str:
        return self.proc.output(limit) if self.proc is not None else ""

    def create_key(self, tenant: str, *flags: str) -> str:
        return create_key(self.data_dir, tenant, *flags)

    def new_keys(self, *tenants: str) -> dict[str, str]:
        """New keys, once the running gateway knows them (it reloads keys within a second).

        Every Granian worker process refreshes on its own, so one 200 proves only the
        process that answered it: wait for several in a row (connections spread).
        """
        made = {t: self.create_key(t) for t in tenants}
        for secret in made.values():
            poll(
                lambda s=secret: self._statuses(s, 8),
                lambda statuses: all(code == 200 for code in statuses),
                timeout_s=10,
            )
        return made

    def _statuses(self, key: str, n: int) -> list[int]:
        # A fresh connection each time, so the requests reach every worker process.
        out = []
        for _ in range(n):
            with httpx2.Client(timeout=10, trust_env=False) as c:
                r = c.get(f"{self.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
                out.append(r.status_code)
        return out

    def metrics_text(self) -> str:
        with httpx2.Client(timeout=10, trust_env=False) as c:
            r = c.get(f"{self.url}/metrics")
        assert r.status_code == 200, r.text
        return r.text


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` in a Prometheus text whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{.*\}})?\s+(\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total
