"""Child processes for tests: each in its own process group, its output in a log file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

PY = sys.executable


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment, unbuffered output, loopback never through a proxy, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


class Proc:
    """A child process in its own process group, its output (stdout and stderr) in
    `log_dir/NAME.log`. `env` replaces the environment (default: subprocess_env())."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else subprocess_env(),
            cwd=cwd,
            start_new_session=True,  # own process group: stop() kills its children too
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self, limit: int = 8000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        """Name, command and the end of the output: for a failure message."""
        return f"{self.name}: {' '.join(self.cmd)}\n--- output ---\n{self.output()}"

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after `grace_s`."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace_s)
        # whatever is left of the group (a worker the gateway started, say)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._log.close()

    def kill9(self) -> None:
        """The whole process group at once: no shutdown code runs anywhere."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)
        self.stop()


def run_cli(*args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """`python -m provocapi ARGS`, its output captured."""
    return subprocess.run(
        [PY, "-m", "provocapi", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=subprocess_env(),
        check=False,
    )


def create_key(data_dir: Path, tenant: str, *flags: str, models: Sequence[str] = ()) -> str:
    """`provocapi keys create` on a data dir (works with or without a running gateway);
    `flags` such as "--rpm", "20" pass through. Returns the secret."""
    args = ["keys", "create", "--tenant", tenant, "--data-dir", str(data_dir), *flags]
    if models:
        args += ["--models", ",".join(models)]
    res = run_cli(*args)
    assert res.returncode == 0, f"keys create failed: {res.stdout}\n{res.stderr}"
    lines = [line.strip() for line in res.stdout.splitlines() if line.strip()]
    assert lines, f"keys create printed nothing: {res.stderr}"
    return lines[-1]
