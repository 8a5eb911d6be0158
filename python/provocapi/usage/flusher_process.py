"""The flusher process: one per `provocapi serve`, spool → store off the serving processes.

Decoding a second of spool and inserting it holds the GIL for milliseconds; in a
serving process that stalls every request in flight (it was the p99). Here it
runs beside them, at a lower CPU priority, and the workers only write the spool.

The launcher (usage/supervisor.py) forks it (forked.py: it shares the modules the
launcher imported instead of importing them again) before Granian, with the same
environment as the workers (effective config, data dir, state file), names it
`provocapi-usage` (/proc/PID/comm) and puts a pipe on its stdin. It stops when
that pipe closes, i.e. after every worker stopped (they hold the pipe too,
inherited at fork) or when the launcher died, then drains once more, bounded.
SIGINT and SIGTERM are ignored: a Ctrl-C or a group-wide SIGTERM reaches every
process at once, and this one must outlive the workers to store what they wrote
last. `python -m provocapi.usage.flusher_process` runs one by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path

from .. import config as config_mod
from .._core import Metrics, StateTable
from ..config import Config
from ..lifeline import stdin_closed
from . import spool_dir
from .flusher import Flusher
from .recorder import DRAIN_TIMEOUT_S
from .stores import open_store
from .telemetry import UsageMetrics

log = logging.getLogger("provocapi.usage")

PROCESS_NAME = "provocapi-usage"  # /proc/PID/comm of the forked flusher (15 bytes at most)
LOCK_NAME = "flusher.lock"  # not a series lock: no segment is named after it
LOCK_POLL_S = 0.5


def _load() -> tuple[Config, Path, str]:
    cfg_path = os.environ.get("PROVOCAPI_EFFECTIVE_CONFIG")
    if cfg_path:
        cfg = config_mod.from_json(Path(cfg_path).read_bytes())
    else:
        cfg = config_mod.load(os.environ.get("PROVOCAPI_CONFIG"))
    data_dir = Path(os.environ.get("PROVOCAPI_DATA_DIR", ".provocapi"))
    state_file = os.environ.get("PROVOCAPI_STATE_FILE") or str(data_dir / "state.bin")
    return cfg, data_dir, state_file


async def _exclusive(directory: Path) -> int:
    """One flusher process per spool: a restarted one waits for its predecessor's lock."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if not waited:
                log.warning("usage: another flusher holds %s; waiting", directory / LOCK_NAME)
                waited = True
            await asyncio.sleep(LOCK_POLL_S)


async def serve(cfg: Config, data_dir: Path, state_file: str) -> None:
    u = cfg.usage
    directory = spool_dir(u, data_dir)
    stop = stdin_closed(asyncio.get_running_loop())
    lock = await _exclusive(directory)
    metrics = UsageMetrics(Metrics(StateTable(state_file)))
    store = open_store(u, data_dir)
    flusher = Flusher(
        store, None, metrics, u.flush_batch, u.flush_interval_ms / 1000,
        directory=directory, max_bytes=u.spool_max_bytes,
    )  # fmt: skip
    log.info("usage: flusher process %d drains %s (nice %d)",
             os.getpid(), directory, u.flusher_nice)  # fmt: skip
    task = asyncio.create_task(flusher.run())
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # the workers are gone: their series are dead now, read whole, open begins interrupted
    await flusher.drain(DRAIN_TIMEOUT_S)
    flusher.report()
    flusher.release()
    await store.close()
    os.close(lock)


def main() -> int:
    # force: forked after Granian set up logging, the launcher's handlers are not ours
    logging.basicConfig(level=os.environ.get("PROVOCAPI_LOG_LEVEL", "INFO"), force=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cfg, data_dir, state_file = _load()
    os.nice(cfg.usage.flusher_nice)  # on a shared core, serving preempts flushing
    asyncio.run(serve(cfg, data_dir, state_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
