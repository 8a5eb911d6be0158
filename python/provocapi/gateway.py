"""Everything a handler needs, built once per process from the config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from . import looplag, sched_adaptive, stallwatch
from ._core import StateTable
from .adapters import Adapters, ConfigAdapters, StoredAdapters
from .adapterstore.files import AdapterFiles
from .adapterstore.sqlite_store import SqliteAdapterStore
from .adapterstore.store import AdapterStore
from .admission import Admission
from .admission.counting import Counter
from .admission.gate import Gate
from .asgi import TWO_CREDENTIALS, Request
from .beat import sleep_to_beat
from .catalog import Catalog
from .config import Config
from .credentials import bearer, is_admin_key
from .error_catalog import HOST_NOT_LOCAL, INVALID_API_KEY, MISSING_API_KEY, TWO_API_KEYS
from .errors import quote
from .keys import LOCAL_KEY, KeyCache, KeyRecord, KeyStore
from .loopback import is_local_host_header, is_loopback
from .reload import Reloader
from .routing import Router
from .routing.metrics import RoutingMetrics
from .telemetry import Telemetry
from .upstream import Upstream
from .usage import SpoolRecorder, UsageRecorder, UsageStore
from .usage import build as build_usage

log = logging.getLogger("provocapi")

# created/revoked keys and created/deleted adapters apply within a second
STORE_REFRESH_S = 0.25
ADAPTER_PURGE_EVERY = 20  # refreshes between looks for deleted adapters' files to remove
# a pending adapter this old lost its fetch (its gateway process died): failed
STALE_PENDING_S = 6 * 3600


class Gateway:
    def __init__(self, cfg: Config, data_dir: str | Path, state_file: str | None = None) -> None:
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.max_body = cfg.server.max_body_bytes
        # the adapter store: metadata next to keys.db, files under [adapters] dir
        self.adapter_store: AdapterStore = SqliteAdapterStore(self.data_dir)
        adapter_dir = Path(cfg.adapters.dir or self.data_dir / "adapters").resolve()
        self.adapter_files = AdapterFiles(adapter_dir)
        worker_dir = cfg.adapters.worker_dir or str(adapter_dir)
        self.stored_adapters = StoredAdapters(self.adapter_store, worker_dir)
        # the operator's adapters from the config, which GET /v1/models lists
        self.config_adapters = ConfigAdapters(cfg)
        self.catalog = Catalog(cfg, Adapters(self.config_adapters, self.stored_adapters))
        self.keys = KeyCache(KeyStore(self.data_dir))
        # keyless local mode; [server] keeps its start-up values across reloads
        self.keyless = cfg.server.auth == "none"
        self.upstream = Upstream(cfg.server.connect_timeout_s)
        if state_file is None:
            fd, state_file = tempfile.mkstemp(prefix="provocapi-state-", suffix=".bin")
            os.close(fd)
            os.unlink(state_file)
        self.state = StateTable(state_file)
        self.telemetry = Telemetry(self.state)
        # The pipeline's subsystems (see pipeline.py), each behind its interface.
        self.router = Router(
            cfg, self.state, RoutingMetrics(self.telemetry.metrics), lambda: self.upstream.session
        )
        self._show_configured_series()
        # the tokenizers: admission counts prompts, the proxy answers without usage
        self.counter = Counter(cfg)
        gate = Gate(cfg, self.state, self.telemetry, self.counter)
        self.admission: Admission = gate
        self.gate = gate
        self._recorder: SpoolRecorder = build_usage(
            cfg.usage, self.data_dir, self.telemetry.metrics
        )
        self.usage: UsageRecorder = self._recorder
        self.usage_store: UsageStore = self._recorder.store
        self._refresher: asyncio.Task[None] | None = None
        # Subsystems register long-running loops here (health probes, usage
        # flusher, limit leases); they start with the event loop.
        self.background: list[Callable[[], Coroutine[Any, Any, None]]] = [self._refresh_stores]
        self.background.append(self._recorder.run)  # group fsync + flusher
        self.background.extend(gate.loops)  # Redis lease refills, when redis_url is set
        self.background.append(self.router.run)
        # POST /admin/reload, followed by every process
        self.reloader = Reloader(self.state, lambda: self.cfg, self.apply_config)
        self.background.append(self.reloader.watch)
        self._tasks: list[asyncio.Task[None]] = []
        # requests this process has answered (app.py): sched_adaptive's measure of load
        self.answered = 0

    def _answered(self) -> int:
        return self.answered

    def apply_config(self, cfg: Config) -> None:
        """Install a reloaded config (reload.py decides which sections keep their values)."""
        config_adapters = ConfigAdapters(cfg)
        catalog = Catalog(cfg, Adapters(config_adapters, self.stored_adapters))
        self.router.configure(cfg)
        self._show_configured_series()
        self.counter = Counter(cfg)
        self.gate.configure(cfg, self.counter)
        self.config_adapters = config_adapters
        self.catalog = catalog
        self.cfg = cfg

    def _show_configured_series(self) -> None:
        """/metrics leaves out the series of models and workers the config no longer has."""
        self.telemetry.show_only(
            models=self.router.pools,
            workers=(w.url for p in self.router.all_pools() for w in p.workers),
        )

    def start_background(self, serving: bool = True) -> None:
        """The background loops, once; `serving`: False in the batch runner's process,
        which answers no HTTP and so has no runtime threads for sched_adaptive, and
        leads health keeping instead of the serving workers."""
        if self._refresher is None:
            if not serving:
                self.router.health.prefer()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(run()) for run in self.background]
            for task in (
                stallwatch.start_if_asked(),
                looplag.start_if_asked(),
                sched_adaptive.start_if_asked(
                    self.cfg.server.sched_batch if serving else False, self._answered
                ),
            ):
                if task is not None:
                    self._tasks.append(task)
            self._refresher = self._tasks[0]

    async def _refresh_stores(self) -> None:
        """Keys, then adapters, changed by other processes: one wake-up for both."""
        ticks = 0
        while True:
            await sleep_to_beat(STORE_REFRESH_S)  # with the reload watch: one wake-up
            ticks += 1
            try:
                self.keys.refresh()
            except Exception:  # a locked or busy db must not stop refreshing
                log.exception("key refresh failed")
            try:
                self.stored_adapters.refresh()
                if ticks % ADAPTER_PURGE_EVERY == 0:
                    self._purge_deleted_adapters()
            except Exception:
                log.exception("adapter refresh failed")

    def _purge_deleted_adapters(self) -> None:
        """Files of adapters deleted more than delete_grace_s ago: calls that had
        them in flight are finished by then (the grace exceeds the request timeout)."""
        cutoff = int(time.time() - self.cfg.adapters.delete_grace_s)
        for a in self.adapter_store.due_for_purge(cutoff):
            self.adapter_files.remove(a.id)
            self.adapter_store.mark_purged(a.id)
        self.adapter_files.sweep_staging()
        self.adapter_store.fail_stale_pending(
            int(time.time() - STALE_PENDING_S), "the fetch was interrupted (gateway restart); retry"
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._recorder.close()  # fsync, one last flush, unlock the spool series
        await self.upstream.close()

    def authenticate(self, req: Request) -> KeyRecord:
        if self._refresher is None:
            self.start_background()
        if self.keyless:  # any key or none: the one local tenant
            _addressed_here(req)
            return LOCAL_KEY
        auth = req.authorization
        secret = bearer(auth) if auth else None
        if not auth or secret == b"":  # ("Bearer " alone: a script's unset variable)
            raise MISSING_API_KEY.build()
        rec = self.keys.lookup(secret) if secret is not None else None
        if rec is None:
            if auth is TWO_CREDENTIALS:
                raise TWO_API_KEYS.build()
            raise INVALID_API_KEY.build(hint=_hint(auth))
        return rec

    @property
    def admin_key(self) -> str | None:
        return self.cfg.server.admin_key or os.environ.get("PROVOCAPI_ADMIN_KEY")

    def is_admin(self, req: Request) -> bool:
        """The request carries the admin key (False when none is configured)."""
        return is_admin_key(req.authorization, self.admin_key)


def _addressed_here(req: Request) -> None:
    """A keyless call over loopback must name this machine in Host (loopback.py says
    why); one reaching a public address (--unsafe-no-auth-public) came as that allows."""
    # Granian's `server` is the address it listens on: behind 0.0.0.0 or :: the
    # client's address tells a call over loopback (it is then loopback too)
    ends = (req.scope.get("server"), req.scope.get("client"))
    if not any(end and is_loopback(str(end[0])) for end in ends):
        return
    named = False
    for name, value in req.scope["headers"]:
        if name == b"host":
            named = True
            if not is_local_host_header(value):
                shown = quote(value.decode("latin-1")) if value.strip() else _NO_HOST
                raise HOST_NOT_LOCAL.build(host=shown)
    if not named:  # HTTP/1.0 may send none: it names no machine, this one least of all
        raise HOST_NOT_LOCAL.build(host=_NO_HOST)


_NO_HOST = "(no Host header)"


def _hint(auth: bytes) -> str:
    """The start and end of a wrong credential, never enough of it to matter."""
    scheme, _, secret = auth.partition(b" ")
    secret = secret.strip()
    # only a Bearer key is shown in part: another scheme's (Basic is base64 of
    # "user:password") would give away its start
    if scheme.lower() != b"bearer" or len(secret) <= 12:
        return "(hidden)"
    return (secret[:8] + b"..." + secret[-4:]).decode("utf-8", "replace")
