"""The batch runner process: one per `provocapi serve`, beside the Granian workers.

It builds the same `Gateway` as a worker process (config, keys, admission and
routing over the shared state file, the usage spool), so each line is a normal
call; only its CPU priority is lower, so online calls preempt it on a shared
core. It also leads health keeping (probes, `/metrics` polls: routing/lease.py),
which would otherwise wake a serving worker. The launcher forks it after loading
the tokenizers (forked.py), as Granian forks its workers, so the tables are
shared instead of loaded again; it is named `provocapi-batch` (/proc/PID/comm)
and has a pipe on stdin: it stops when that pipe closes; SIGINT and SIGTERM are
ignored (a group-wide signal must not cut lines short: they would only run
again). Killed anyway, its batches' leases run out and the next runner (forked
again by the launcher) resumes them.
`python -m provocapi.batch.runner_process` runs one by hand, loading its own tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from .. import config as config_mod
from ..gateway import Gateway
from ..lifeline import stdin_closed
from .runner import Runner

log = logging.getLogger("provocapi.batch")

RUNNER_ENV = "PROVOCAPI_BATCH_RUNNER"
EXTERNAL = "process"  # set by the launcher: the workers run no batches themselves
PROCESS_NAME = "provocapi-batch"  # /proc/PID/comm of the forked runner (15 bytes at most)


async def serve(gw: Gateway) -> None:
    stop = stdin_closed(asyncio.get_running_loop())
    runner = Runner(gw)
    gw.background.append(runner.run)
    gw.start_background(serving=False)
    log.info("batch: runner process %d (nice %d)", os.getpid(), gw.cfg.batch.runner_nice)
    await stop.wait()
    await gw.close()  # cancels the runner: its lease is released, usage fsynced


def main() -> int:
    # force: forked after Granian set up logging, the launcher's handlers are not ours
    logging.basicConfig(level=os.environ.get("PROVOCAPI_LOG_LEVEL", "INFO"), force=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cfg_path = os.environ.get("PROVOCAPI_EFFECTIVE_CONFIG")
    if cfg_path:
        cfg = config_mod.from_json(Path(cfg_path).read_bytes())
    else:
        cfg = config_mod.load(os.environ.get("PROVOCAPI_CONFIG"))
    data_dir = Path(os.environ.get("PROVOCAPI_DATA_DIR", ".provocapi"))
    with contextlib.suppress(OSError):
        os.nice(cfg.batch.runner_nice)
    gw = Gateway(cfg, data_dir, os.environ.get("PROVOCAPI_STATE_FILE"))
    try:
        import uvloop

        uvloop.run(serve(gw))
    except ImportError:
        asyncio.run(serve(gw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
