"""Config reload without a restart, reaching every Granian worker process.

`POST /admin/reload` (handlers/admin.py) re-reads the config file the gateway
started from, writes the new effective config beside the old one (atomically)
and bumps a generation counter in the shared state table; every process
watches that counter and applies the file when it moves. Granian's own SIGHUP
respawns its workers, which would wipe in-process state; this does not.

What a reload applies: models (pools, workers, adapters, aliases), tenants
(model lists, tiers), `[tiers]` (limits) and `[routing]`. `[server]`, `[usage]`
and `redis_url` keep their start-up values until a restart. A changed limit
takes over the bucket's current state: the tokens already spent stay spent.
Calls already routed finish on the pool they started with (its counters are the
same shared slots).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import msgspec

from . import config as config_mod
from ._core import StateTable
from .beat import sleep_to_beat
from .config import Config

log = logging.getLogger("provocapi")

GENERATION_KEY = "cfg/generation"
WATCH_S = 0.25  # how soon the other processes follow a reload


class Reloaded(NamedTuple):
    generation: int
    # start-up settings the file now gives other values: in force after a restart only
    not_applied: list[str]


class Reloader:
    """Publishes and follows config generations; the owner of the config applies them.

    `current` reads the config in force and `apply` installs a new one (the
    gateway's `apply_config`): this module never reaches into the gateway, so
    the arrow points one way (gateway → reload)."""

    def __init__(
        self, state: StateTable, current: Callable[[], Config], apply: Callable[[Config], None]
    ) -> None:
        self.state = state
        self.current = current
        self.apply = apply
        self.slot = state.slot(GENERATION_KEY)
        self.seen = state.get(self.slot, 0)

    @property
    def generation(self) -> int:
        return self.state.get(self.slot, 0)

    def reload(self) -> Reloaded:
        """Re-read the source config and publish it; ConfigError leaves everything as it was."""
        source = os.environ.get("PROVOCAPI_CONFIG_SOURCE") or None
        current = self.current()
        loaded = _keep_simulated(config_mod.load(source), current)
        not_applied = _startup_changes(loaded, current)
        if not_applied:
            log.warning("reload: %s keep their start-up values until a restart", not_applied)
        # the file is what a respawned worker, flusher or runner starts from: it must
        # hold the start-up sections too, or that process alone would serve with the
        # edited ones (a reloaded `auth = "none"` made one process keyless)
        new = _keep_startup(loaded, current)
        effective = os.environ.get("PROVOCAPI_EFFECTIVE_CONFIG")
        if effective:
            path = Path(effective)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            config_mod.write_private(tmp, new)
            tmp.replace(path)  # readers see the old file or the new one, never half
        gen = self.state.add(self.slot, 0, 1)
        if effective:
            self._apply_file(Path(effective), gen)  # the file may hold a later reload's
        else:
            self._apply(new, gen)
        return Reloaded(gen, not_applied)

    async def watch(self) -> None:
        effective = os.environ.get("PROVOCAPI_EFFECTIVE_CONFIG")
        while True:
            await sleep_to_beat(WATCH_S)
            gen = self.generation
            if gen != self.seen and effective:
                try:
                    self._apply_file(Path(effective), gen)
                except Exception:  # keep serving on the config we have
                    log.exception("config generation %d could not be applied", gen)
                    self.seen = gen

    def _apply_file(self, path: Path, gen: int) -> None:
        self._apply(config_mod.from_json(path.read_bytes()), gen)

    def _apply(self, new: Config, gen: int) -> None:
        cfg = _keep_startup(new, self.current())
        self.apply(cfg)
        self.seen = gen
        log.info("config generation %d applied (%d models)", gen, len(cfg.models))


def _keep_startup(new: Config, current: Config) -> Config:
    """`[server]`, `[usage]` and `redis_url` keep their start-up values until a restart."""
    return msgspec.structs.replace(
        new, server=current.server, usage=current.usage, redis_url=current.redis_url
    )


def _startup_changes(loaded: Config, current: Config) -> list[str]:
    """The start-up settings whose value in `loaded` is not the one in force (serve's
    flags, such as --no-auth, count as in force)."""
    changed = [
        f"{section}.{name}"
        for section in ("server", "usage")
        for name in getattr(current, section).__struct_fields__
        if getattr(getattr(loaded, section), name) != getattr(getattr(current, section), name)
    ]
    if loaded.redis_url != current.redis_url:
        changed.append("redis_url")
    return sorted(changed)


def _keep_simulated(new: Config, current: Config) -> Config:
    """`simulate = true` models keep the simulators `serve` started for them."""
    running = {m.id: m.workers for m in current.models}
    models = []
    for m in new.models:
        if m.simulate and not m.workers:
            workers = running.get(m.id)
            if not workers:
                raise config_mod.ConfigError(
                    f"model {m.id}: simulated workers start only with `provocapi serve`; "
                    "a reload cannot add one (give it `workers`)"
                )
            m = msgspec.structs.replace(m, workers=workers)
        models.append(m)
    return msgspec.structs.replace(new, models=models)
