"""Faults of what the gateway depends on, under load (rows of the fault matrix,
matrix.py): Redis, the usage store (ClickHouse) and the spool's disk."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from harness.gateway import metric_sum
from harness.redis_server import RedisServer
from harness.waiting import poll
from usage.clickhouse_server import PASSWORD, USER, ClickHouse

from .ledger import rows
from .load import Load
from .store_stack import fast_sim, gateway, unlimited_key


def test_spool_disk_full(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(spool)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    sim, worker = fast_sim(tmp_path)
    gw = gateway(tmp_path / "gw", worker, f"""
        [usage]
        spool_dir = "{spool}"
        segment_bytes = 65536
        flush_interval_ms = 100
        """)  # fmt: skip
    try:
        gw.start()
        key = unlimited_key(gw)
        ballast = spool / "ballast"
        with Load(gw.url, key) as load:
            load.wait_for(50)
            # something else fills the disk, leaving a few calls' worth
            free = os.statvfs(spool).f_bavail * os.statvfs(spool).f_frsize
            with ballast.open("wb") as f:
                f.write(b"\0" * max(0, free - 16384))
            load.wait_for(300)
            ballast.unlink()  # room again
            load.wait_for(100)
        statuses = load.by_status()
        assert set(statuses) == {(200, None), (503, "usage_spool_full")}, statuses
        db = gw.data_dir / "usage.db"
        ok, refused = load.ids(200), load.ids(503)
        stored = poll(lambda: rows(db), lambda r: ok <= r.keys(), timeout_s=20)
        # every accepted call stored once, whole; no refused call stored at all
        assert {rid: [r.outcome for r in stored.get(rid, [])] for rid in ok} == {
            rid: ["completed"] for rid in ok
        }
        assert not refused & stored.keys()
    finally:
        gw.stop()
        sim.stop()
        subprocess.run(["umount", "-l", str(spool)], check=False)


def test_redis_stopped_and_restarted_under_load(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    sim, worker = fast_sim(tmp_path)
    gw = gateway(tmp_path / "gw", worker, f'redis_url = "{redis.url}"\n', workers=2)
    try:
        gw.start()
        key = unlimited_key(gw)  # limited, so every call goes through the shared budget
        with Load(gw.url, key) as load:
            load.wait_for(100)
            redis.stop()
            load.wait_for(200)
            fell_back = poll(
                lambda: metric_sum(gw.metrics_text(), "provocapi_ratelimit_redis_fallback_total"),
                bool, timeout_s=15,
            )  # fmt: skip
            redis.start()  # the same port, empty: the leases start again
            load.wait_for(200)
        assert fell_back >= 1  # the outage was seen
        assert load.by_status() == {(200, None): len(load.seen)}  # 0 failed requests
        ok = load.ids(200)
        stored = poll(lambda: rows(gw.data_dir / "usage.db"), lambda r: ok <= r.keys(), 20)
        assert all(len(stored[rid]) == 1 for rid in ok)
    finally:
        gw.stop()
        sim.stop()
        redis.stop()


def outage_s() -> float:
    """How long ClickHouse stays down: FAULTS_CLICKHOUSE_OUTAGE_S, 10 s by default."""
    return float(os.environ.get("FAULTS_CLICKHOUSE_OUTAGE_S", "10"))


def test_clickhouse_stopped_under_load(tmp_path: Path) -> None:
    ch = ClickHouse(tmp_path / "ch")
    ch.start()
    sim, worker = fast_sim(tmp_path)
    gw = gateway(tmp_path / "gw", worker, f"""
        [usage]
        store = "clickhouse"
        clickhouse_url = "{ch.url}"
        clickhouse_database = "faults"
        clickhouse_user = "{USER}"
        clickhouse_password = "{PASSWORD}"
        flush_interval_ms = 100
        """, workers=2)  # fmt: skip
    try:
        gw.start()
        key = unlimited_key(gw)
        with Load(gw.url, key, pause_s=0.02) as load:
            load.wait_for(50)
            ch.stop()
            time.sleep(outage_s())  # calls go on: the spool holds their usage
            lag = metric_sum(gw.metrics_text(), "provocapi_usage_flush_lag_seconds")
            ch.start()
            load.wait_for(50)
        answered = len(load.seen)
        assert load.by_status() == {(200, None): answered}  # 0 failed requests
        assert lag > 0  # the spool was behind while the store was down
        final, distinct = poll(
            lambda: clickhouse_counts(ch), lambda c: c[0] >= answered, timeout_s=30
        )
        assert final == distinct == answered  # none lost, none twice
        text = poll(
            gw.metrics_text,
            lambda t: metric_sum(t, "provocapi_usage_flush_lag_seconds") == 0,
            timeout_s=15,
        )
        assert metric_sum(text, "provocapi_usage_flush_lag_seconds") == 0  # drained
        assert metric_sum(text, "provocapi_usage_store_errors_total") >= 1
    finally:
        gw.stop()
        sim.stop()
        ch.stop(kill=True)


def clickhouse_counts(ch: ClickHouse) -> tuple[int, int]:
    """(events after collapsing re-inserts by event id, distinct event ids)."""
    if ch.query("EXISTS TABLE faults.usage_events").strip() != "1":
        return 0, 0
    final, distinct = ch.query(
        "SELECT count(), uniqExact(event_id) FROM faults.usage_events FINAL FORMAT TSV"
    ).split()
    return int(final), int(distinct)
