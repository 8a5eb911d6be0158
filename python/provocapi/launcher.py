"""`provocapi serve`: prepare the data dir, start simulated workers where the
config asks for them, load the tokenizers, fork the usage flusher and the batch
runner processes, then run Granian with N worker processes (forked too, so all
of them share the tables); the flusher stops after them.

The launcher is the only place that knows about `simulate = true`; the gateway
sees ordinary worker URLs, and a simulator that died comes back on them.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

import msgspec

from . import config as config_mod
from . import datadir
from ._core import StateTable
from .adapterstore import architecture
from .admission.vocabularies import preload as preload_tokenizers
from .batch.runner_process import EXTERNAL as RUNNER_EXTERNAL
from .batch.runner_process import PROCESS_NAME as RUNNER_NAME
from .batch.runner_process import RUNNER_ENV
from .batch.runner_process import main as runner_main
from .config import Config, ModelConfig, ServerConfig
from .cores import describe_sharing, usable_cpus
from .cors_origins import describe as describe_origins
from .health import mark_draining
from .keys import KeyStore
from .loopback import is_loopback
from .lora_files import WEIGHTS_FILE, write_zero_adapter
from .netutil import check_listen, free_ports, listen_address, wait_healthy
from .open_files import fit_connections, raise_soft_limit
from .sched_policy import use_batch
from .sim_supervisor import SimSupervisor
from .usage.flusher_process import PROCESS_NAME as FLUSHER_NAME
from .usage.flusher_process import main as flusher_main
from .usage.recorder import EXTERNAL, FLUSHER_ENV
from .usage.supervisor import FlusherSupervisor

# `serve` refuses keyless mode on a non-loopback address (without --unsafe-no-auth-public)
NO_AUTH_PUBLIC_EXIT = 2


def _describe_sched(mode: bool | str) -> str:
    """The banner's line for `[server] sched_batch`."""
    if mode is True:
        return "every worker thread SCHED_BATCH (sched_batch = true)"
    if mode == "auto":
        return "a worker's HTTP runtime threads SCHED_BATCH while its loop is saturated (auto)"
    return "the kernel's default (sched_batch = false)"


def keyless_refusal(cfg: Config, host: str, unsafe_public: bool) -> str | None:
    """Why `serve` will not start keyless on this address (None: it may)."""
    if cfg.server.auth != "none" or is_loopback(host) or unsafe_public:
        return None
    return (
        f'keyless mode (--no-auth or [server] auth = "none") would serve anyone who can '
        f"reach {host}, which is not a loopback address: listen on 127.0.0.1, or pass "
        "--unsafe-no-auth-public if that is really meant"
    )


def _sim_spec(m: ModelConfig, port: int) -> dict[str, object]:
    spec: dict[str, object] = {"model": m.served_name, "port": port}
    if m.kind == "embedding":
        spec["embedding"] = True
        spec["dimensions"] = m.dimensions
    else:
        if m.family:
            spec["family"] = m.family
        if m.tokenizer:  # the sim counts prompts with the model's own file, as configured
            spec["tokenizer"] = m.tokenizer
        if m.batch_priority is not None:  # a worker that knows the field batch lines carry
            spec["priority"] = True
        if (arch := architecture.of(m)) is not None:  # it refuses adapters that do not fit
            spec["architecture"] = json.dumps(architecture.as_dict(arch))
    return spec


# A simulator that cannot bind one of its ports (taken between our pick and its bind,
# e.g. as another program's outgoing connection) is started again on fresh ports.
SIM_START_ATTEMPTS = 3


def start_simulated(
    cfg: Config, host: str, avoid: Collection[int] = ()
) -> tuple[Config, SimSupervisor | None]:
    """One simulator process serving every `simulate = true` model, a port each,
    restarted on the same ports if it dies (sim_supervisor.py). None of them is in
    `avoid`: serve's own port, which it binds only after the simulators are up."""
    sims = [m for m in cfg.models if m.simulate and not m.workers]
    if not sims:
        return cfg, None
    print(f"==> starting {len(sims)} simulated trtllm-serve workers (one process)", flush=True)
    attempt = 1
    while True:
        # all picked at once: ports picked one by one may repeat (each is free again
        # as soon as its probe socket closes)
        ports = dict(zip([m.id for m in sims], free_ports(len(sims), host, avoid), strict=True))
        supervisor = SimSupervisor(
            [
                sys.executable, "-m", "provocapi.sim", "--host", host,
                "--fleet", json.dumps([_sim_spec(m, ports[m.id]) for m in sims]),
            ]
        )  # fmt: skip
        proc = supervisor.spawn()
        try:
            models = _wait_simulated(cfg, host, ports, proc)
        except BaseException as exc:
            exited = proc.poll() is not None  # before stop() ends it
            supervisor.stop()
            if not (isinstance(exc, RuntimeError) and exited and attempt < SIM_START_ATTEMPTS):
                raise
            print(f"    the simulator exited at start; again on other ports ({attempt})")
            attempt += 1
            continue
        supervisor.watch()
        return msgspec.structs.replace(cfg, models=models), supervisor


def _wait_simulated(
    cfg: Config, host: str, ports: dict[str, int], proc: subprocess.Popen[bytes]
) -> list[ModelConfig]:
    """The models, the simulated ones pointed at their simulator once it answers."""
    models = []
    for m in cfg.models:
        if m.id in ports:
            url = f"http://{host}:{ports[m.id]}"
            wait_healthy(f"{url}/health", 30, proc)
            print(f"    {m.id:<26} simulated at {url}", flush=True)
            m = msgspec.structs.replace(m, workers=[url])
        models.append(m)
    return models


def write_example_adapter(data: Path) -> None:
    """The embedded default's `sql-expert`: rank 1 on q_proj and v_proj of every
    llama-3.1-8b layer, zeros (under 1 MB), checked like an upload would be."""
    folder = data / "example-adapters" / "sql-expert"
    if (folder / WEIGHTS_FILE).is_file():
        return
    arch = architecture.BUILTIN["llama-3.1-8b-instruct"]
    shapes = architecture.module_shapes(arch)
    modules = {m: shapes[m] for m in ("q_proj", "v_proj")}
    write_zero_adapter(folder, modules, rank=1, layers=arch.layers)


def drain_on_sigterm(server: Any, table: StateTable, delay_s: float) -> None:
    """SIGTERM/SIGINT: raise the drain flag (/health/ready → 503), then stop Granian
    after `delay_s`; a second signal stops at once. Granian binds its signal
    handlers to this attribute when it starts, so wrapping it is enough."""
    stop = server.signal_handler_interrupt
    timer: list[threading.Timer] = []

    def drain_then_stop(*args: object, **kwargs: object) -> None:
        mark_draining(table)
        if delay_s <= 0 or timer:
            stop()
            return
        print(f"==> draining: /health/ready answers 503 for {delay_s:g} s, then stop", flush=True)
        timer.append(threading.Timer(delay_s, stop))
        timer[0].daemon = True
        timer[0].start()

    server.signal_handler_interrupt = drain_then_stop


def stop_timeout(srv: ServerConfig) -> int:
    """Whole seconds a worker may take to stop (Granian takes an int)."""
    wait = srv.stop_timeout_s
    return math.ceil(srv.request_timeout_s + 10 if wait is None else wait)


def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    data_dir: str,
    *,
    no_auth: bool = False,
    unsafe_public: bool = False,
) -> int:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    data = Path(data_dir).resolve()
    cfg = config_mod.load(config_path, data)
    host = host or cfg.server.host
    port = port if port is not None else cfg.server.port
    if no_auth:
        cfg = msgspec.structs.replace(cfg, server=msgspec.structs.replace(cfg.server, auth="none"))
    if (refusal := keyless_refusal(cfg, host, unsafe_public)) is not None:
        print(f"error: {refusal}", file=sys.stderr)
        return NO_AUTH_PUBLIC_EXIT
    # checked before anything starts: Granian binds only after the simulators, the
    # flusher and the runner are up, and its bind error (or a name for an address)
    # came as a traceback after all of them; ListenRefused is cli's exit 2, as a bad
    # data dir's
    host = listen_address(host, port)
    open_files = raise_soft_limit()  # before any child: they all inherit it
    datadir.prepare(data)
    # this serve's own files, in a run dir held (by it and its forked children) until exit
    own = datadir.run_dir(data, host, port)
    datadir.hold(own)  # (another serve here is named; one just killed is waited for)
    check_listen(host, port)
    if config_path is None:
        write_example_adapter(data)
    # keys.db migrated once here, before the workers open it; a newer release's is refused
    KeyStore(data).conn.close()
    source = config_path or "the embedded default"
    print(f"==> provocapi: config from {source}, data in {data}", flush=True)

    cfg, sims = start_simulated(cfg, "127.0.0.1", avoid={port})
    flusher: FlusherSupervisor | None = None
    runner: FlusherSupervisor | None = None
    try:
        effective = own / "effective-config.json"
        config_mod.write_private(effective, cfg)
        state = own / "state.bin"
        state.unlink(missing_ok=True)  # counters and metrics start from zero
        os.environ["PROVOCAPI_EFFECTIVE_CONFIG"] = str(effective)
        # POST /admin/reload re-reads this file ("" = the embedded default)
        reread = str(Path(config_path).resolve()) if config_path else ""
        os.environ["PROVOCAPI_CONFIG_SOURCE"] = reread
        os.environ["PROVOCAPI_DATA_DIR"] = str(data)
        os.environ["PROVOCAPI_STATE_FILE"] = str(state)
        # Granian forks its workers from this process (multiprocessing's "fork"), and the
        # flusher and batch runner are forked from it too (forked.py): tables loaded here
        # are shared copy-on-write, each worker's factory and the runner find them loaded
        preload_tokenizers(cfg.models)
        # what exists now (modules, config, tables) lives as long as serve: frozen, out of
        # the collector's sight, so a collection in a forked child no longer writes to the
        # objects' headers, and so copies, the pages it shares with the launcher
        # (CPython's advice for servers that fork without exec)
        gc.freeze()
        if cfg.usage.flusher == "process":
            # one process drains the spool for all workers, which then only write it;
            # forked from here, it shares the modules imported here
            flusher = FlusherSupervisor(flusher_main, FLUSHER_NAME)
            flusher.start()
            os.environ[FLUSHER_ENV] = EXTERNAL
            print("==> usage: one flusher process drains the spool into the store", flush=True)
        else:
            os.environ.pop(FLUSHER_ENV, None)
        if cfg.batch.runner == "process":
            # batches run in one low-priority process; the workers only serve
            # forked, now and on each restart, from here where the tables are loaded
            runner = FlusherSupervisor(runner_main, RUNNER_NAME, "batch runner")
            runner.start()
            os.environ[RUNNER_ENV] = RUNNER_EXTERNAL
        else:
            os.environ.pop(RUNNER_ENV, None)
        key_cmd = "provocapi keys create --tenant NAME"
        if data != Path(".provocapi").resolve():
            key_cmd += f" --data-dir {shlex.quote(str(data))}"  # pasted into a shell
        srv = cfg.server
        # Granian's own default when unset: its backlog shared among the processes
        per_process = srv.backpressure or max(1, srv.backlog // max(1, workers))
        per_process, files_note = fit_connections(open_files, per_process)
        # an IPv6 address goes in brackets in a URL (RFC 3986), else no client parses it
        bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
        base = f"http://{bracketed}:{port}/v1"
        print(f"==> listening on {base} ({workers} worker process(es))")
        print(
            f"    slow clients: headers within {srv.header_read_timeout_s:g} s (and idle "
            f"keep-alive), bodies within {srv.body_read_timeout_s:g} s, a stalled send "
            f"cut after {srv.write_timeout_s:g} s, at most {per_process} connections per process"
        )
        if files_note is not None:
            print(f"    open files: {files_note}")
        print(f"    scheduling: {_describe_sched(srv.sched_batch)}")
        sharing = describe_sharing(workers, usable_cpus())
        if sharing is not None:
            print(f"    cores:      {sharing}")
        keyless = cfg.server.auth == "none"
        print(f"    browsers:   {describe_origins(srv.cors_allow_origins, keyless)} (CORS)")
        if keyless:
            public = "" if is_loopback(host) else " ON A PUBLIC ADDRESS (--unsafe-no-auth-public)"
            print(f"    keyless:    any API key or none is tenant 'local'{public}")
            print(f"    use:        OpenAI(base_url='{base}', api_key='anything')")
        else:
            print(f"    get a key:  {key_cmd}")
            print(f"    then:       OpenAI(base_url='{base}', api_key='pk-prov-...')")
        sys.stdout.flush()
        if srv.sched_batch is True:  # ("auto": each worker switches itself, sched_adaptive.py)
            use_batch()  # inherited by the workers Granian forks, and their threads
        server = Granian(
            "provocapi.app:create_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            loop=Loops.uvloop,
            http=HTTPModes.http1,
            log_access=False,
            backlog=srv.backlog,
            # connections served at once per process: more wait in the listen backlog
            backpressure=per_process,
            # hyper closes a connection whose request headers are not all in by then
            # (silently, no 408), and an idle keep-alive connection after as long
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, round(srv.header_read_timeout_s * 1000))
            ),
            # a worker process that dies (OOM killer, kill -9) is replaced; the units it
            # held in the shared counters come back through routing/ledger.py
            respawn_failed_workers=True,
            respawn_interval=1.0,
            # a worker that has not stopped by then is killed: without it serve waited
            # for ever on one that missed its SIGTERM (one that came between two runs of
            # its loop is lost to uvloop) or hung in its stop
            workers_kill_timeout=stop_timeout(srv),
        )
        drain_on_sigterm(server, StateTable(str(state)), cfg.server.drain_delay_s)
        server.serve()
    finally:
        if runner is not None:
            runner.stop()
        if flusher is not None:  # Granian's workers are gone: its last drain sees it all
            flusher.stop()
        if sims is not None:
            sims.stop()
    return 0
