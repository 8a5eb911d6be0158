"""The health lease (routing/lease.py): one holder at a time; a preferred process (the
batch runner) takes it from any other holder, the others only once it has run out."""

from __future__ import annotations

from pathlib import Path

import pytest
from provocapi._core import StateTable
from provocapi.routing import lease as lease_mod
from provocapi.routing.lease import Lease


class Clock:
    def __init__(self) -> None:
        self.ds = 1_000_000

    def __call__(self) -> int:
        return self.ds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(lease_mod, "_now_ds", c)
    return c


def _lease(table: StateTable, pid: int, preferred: bool = False) -> Lease:
    lease = Lease(table, "rt/lease/test", ttl_s=0.6, preferred=preferred)  # 6 ds
    lease.me = pid  # processes of their own, in one test process
    return lease


@pytest.fixture
def table(tmp_path: Path) -> StateTable:
    return StateTable(str(tmp_path / "state.bin"))


def test_one_holder_until_it_runs_out(table: StateTable, clock: Clock) -> None:
    a, b = _lease(table, 101), _lease(table, 102)
    assert a.holder() is None
    assert a.hold()
    assert not b.hold()
    clock.ds += 5
    assert a.hold()  # renewed: another 6 ds from now
    clock.ds += 6
    assert not b.hold()
    assert a.holder() == 101
    clock.ds += 1  # a stopped renewing 7 ds ago
    assert a.holder() is None
    assert b.hold()
    assert not a.hold()
    assert b.holder() == 102


def test_a_preferred_process_takes_the_lease_from_a_live_holder(
    table: StateTable, clock: Clock
) -> None:
    worker, runner = _lease(table, 201), _lease(table, 202, preferred=True)
    assert worker.hold()
    assert runner.hold()  # at once, though the worker's lease had 6 ds to run
    assert not worker.hold()
    clock.ds += 5
    assert runner.hold()
    assert not worker.hold()
    assert runner.holder() == 202


def test_a_preferred_holder_keeps_it_from_another_preferred_one(
    table: StateTable, clock: Clock
) -> None:
    old, new = _lease(table, 301, preferred=True), _lease(table, 302, preferred=True)
    assert old.hold()
    assert not new.hold()  # a killed runner's successor waits out its lease
    clock.ds += 7
    assert new.hold()
    assert not old.hold()


def test_others_lead_while_the_preferred_one_is_gone_and_hand_back(
    table: StateTable, clock: Clock
) -> None:
    runner, w1, w2 = _lease(table, 401, True), _lease(table, 402), _lease(table, 403)
    assert runner.hold()
    clock.ds += 7  # the runner died
    assert w1.hold()
    assert not w2.hold()
    again = _lease(table, 404, preferred=True)  # forked again
    assert again.hold()
    assert not w1.hold() and not w2.hold()
    assert again.holder() == 404
