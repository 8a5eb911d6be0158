"""Numbered schema migrations, whatever the engine.

A store registers its schema as steps numbered 1, 2, 3, ... (a new store, e.g.
the batch store, starts with step 1 creating its tables):

    MIGRATIONS = Migrations("batches", (
        Step(1, "the batches table", sqlite_migrations.ddl("CREATE TABLE ...")),
        Step(2, "an index for listing by tenant", sqlite_migrations.ddl("CREATE INDEX ...")),
    ))

The rules that keep every data directory readable:
- a released step never changes: files made by that release were built by it;
  a change of schema is a new step with the next number;
- steps run forward only, in order, each once per store (the engine's runner
  records the version it reached);
- a store whose recorded version is above the last step was written by a newer
  release and is refused (`SchemaTooNew`): an older release never reads or
  writes a schema it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Apply = TypeVar("Apply")  # what a step runs: its type depends on the engine


class SchemaTooNew(Exception):
    """The store was migrated by a newer release than this one."""

    def __init__(self, store: str, where: str, found: int, known: int) -> None:
        super().__init__(
            f"the {store} store at {where} has schema version {found}, but this provocapi "
            f"knows versions up to {known}: a newer release wrote it. Run that release (or "
            f"a newer one), or restore a copy taken before the upgrade; schemas never "
            f"migrate backwards."
        )
        self.store = store
        self.where = where
        self.found = found
        self.known = known


@dataclass(frozen=True, slots=True)
class Step(Generic[Apply]):
    version: int  # the schema version this step brings the store to
    summary: str
    apply: Apply


@dataclass(frozen=True, slots=True)
class Migrated:
    """What opening a store did: the version found, the version it is at now."""

    found: int
    now: int

    @property
    def applied(self) -> bool:
        return self.now > self.found


class Migrations(Generic[Apply]):
    """One store's steps; `latest` is the version this code reads and writes."""

    def __init__(self, store: str, steps: Sequence[Step[Apply]]) -> None:
        numbers = [s.version for s in steps]
        if numbers != list(range(1, len(steps) + 1)):
            raise ValueError(f"{store}: migration steps must be numbered 1..n, got {numbers}")
        self.store = store
        self.steps = tuple(steps)

    @property
    def latest(self) -> int:
        return len(self.steps)

    def pending(self, found: int, where: str) -> tuple[Step[Apply], ...]:
        """The steps after `found`, in order; refuses a version above `latest`."""
        if found > self.latest:
            raise SchemaTooNew(self.store, where, found, self.latest)
        return self.steps[max(found, 0) :]
