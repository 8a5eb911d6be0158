"""`provocapi serve` with its usage flusher process, on ClickHouse: the workers only
write the spool, the flusher process stores it; kill -9 of the flusher (restarted by
the launcher) or of a Granian worker loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from pathlib import Path

import httpx2
from harness.gateway import Gateway
from harness.proctree import flushers, granian_workers
from harness.waiting import poll
from provocapi.sim.process import SimHandle
from provocapi.usage.spool import list_series

from .clickhouse_server import ClickHouse
from .gateway_stack import ADMIN_KEY, make_gateway, usage

TODAY = time.strftime("%Y-%m-%d", time.gmtime())
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def flusher_pids(gw: Gateway) -> list[int]:
    return flushers(gw.pid)


class Sender:
    """Chat calls in a loop from a thread, a new connection every few (both workers)."""

    def __init__(self, gw: Gateway, key: str) -> None:
        self.url = f"{gw.url}/v1/chat/completions"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            with httpx2.Client(timeout=30, trust_env=False) as c:
                for _ in range(4):
                    r = c.post(self.url, json=BODY, headers=self.headers)
                    self.statuses.append(r.status_code)
                    time.sleep(0.005)

    def __enter__(self) -> Sender:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def stored(ch: ClickHouse, database: str) -> tuple[int, int, int]:
    """(rows as inserted, events after collapsing by event_id, distinct event ids)."""
    if ch.query(f"EXISTS TABLE {database}.usage_events").strip() != "1":
        return 0, 0, 0
    raw = int(ch.query(f"SELECT count() FROM {database}.usage_events").strip())
    final, distinct = ch.query(
        f"SELECT count(), uniqExact(event_id) FROM {database}.usage_events FINAL FORMAT TSV"
    ).split()
    return raw, int(final), int(distinct)


def test_killing_the_flusher_process_loses_nothing(
    tmp_path: Path, sims: SimHandle, clickhouse: ClickHouse
) -> None:
    database = "flusher_" + secrets.token_hex(4)
    gw = make_gateway(tmp_path, sims, clickhouse, flush_ms=100, workers=2, database=database)
    gw.start()
    try:
        (first,) = flusher_pids(gw)
        assert len(granian_workers(gw.pid)) == 2
        key = gw.new_keys("acme")["acme"]
        with Sender(gw, key) as sender:
            # the flusher process has stored some: a restart replays them
            poll(lambda: stored(clickhouse, database)[1], lambda n: n >= 40, timeout_s=30)
            os.kill(first, signal.SIGKILL)
            restarted = poll(lambda: flusher_pids(gw), lambda p: bool(p) and p != [first], 30)
            assert restarted and first not in restarted
            time.sleep(1.0)  # calls go on while the new one catches up
        answered = len(sender.statuses)
        assert set(sender.statuses) == {200}
        body = poll(
            lambda: usage(gw, ADMIN_KEY, start_date=TODAY, end_date=TODAY, tenant="acme").json(),
            lambda b: sum(r["requests"] for r in b.get("data", [])) >= answered,
        )
        assert sum(r["requests"] for r in body["data"]) == answered  # none lost, none twice
        raw, final, distinct = stored(clickhouse, database)
        assert final == distinct == answered
        assert raw >= answered  # (rows inserted again by the new flusher collapse)
        outcomes = clickhouse.query(
            f"SELECT outcome, count() FROM {database}.usage_events FINAL "
            "GROUP BY outcome FORMAT TSV"
        )
        assert outcomes.split() == ["completed", str(answered)]
        assert "restarting it" in gw.output(20000)
        # the workers never flush: every flushed event was counted by a flusher process,
        # into the registry every worker's /metrics reads
        with httpx2.Client(timeout=10, trust_env=False) as c:
            text = c.get(f"{gw.url}/metrics").text
        name = "provocapi_usage_events_flushed_total"
        flushed = [ln for ln in text.splitlines() if ln.startswith(name)]
        assert flushed and float(flushed[0].split()[-1]) >= answered
        assert "provocapi_usage_spool_limit_bytes 1073741824" in text
    finally:
        gw.stop()
    assert not flusher_pids(gw)


def test_killing_a_worker_loses_nothing(
    tmp_path: Path, sims: SimHandle, clickhouse: ClickHouse
) -> None:
    """Whether Granian then stops (the launcher's last drain) or replaces the worker
    (the flusher process adopts its series), its events are stored once."""
    database = "wkill_" + secrets.token_hex(4)
    gw = make_gateway(tmp_path, sims, clickhouse, flush_ms=100, workers=2, database=database)
    gw.start()
    try:
        key = gw.new_keys("acme")["acme"]
        with Sender(gw, key) as sender:
            time.sleep(1.0)
        answered = len(sender.statuses)
        assert answered > 0 and set(sender.statuses) == {200}
        spool = gw.data_dir / "usage-spool"
        victim = granian_workers(gw.pid)[0]
        (token,) = [t for t in list_series(spool) if t.startswith(f"p{victim}-")]
        os.kill(victim, signal.SIGKILL)  # no call in flight: every answered one ended
        _, final, distinct = poll(
            lambda: stored(clickhouse, database), lambda s: s[1] >= answered, timeout_s=30
        )
        assert final == distinct == answered
        left = poll(lambda: list_series(spool), lambda series: token not in series, 30)
        assert token not in left  # the dead series, read whole, then removed
    finally:
        gw.stop()
    assert not flusher_pids(gw)
