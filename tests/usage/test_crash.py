"""kill -9 of the gateway loses no admitted request: `provocapi serve` on ClickHouse
with a flush interval longer than the test, requests answered, one stream cut off
mid-way, the process group killed, the gateway started again on the same data."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import openai
from harness.proctree import batch_runners, granian_workers
from harness.waiting import poll
from provocapi.sim.process import SimHandle
from provocapi.usage.spool import list_series

from .clickhouse_server import ClickHouse
from .gateway_stack import ADMIN_KEY, make_gateway, usage

TODAY = time.strftime("%Y-%m-%d", time.gmtime())
ANSWERED = 12


def test_kill_9_loses_nothing(tmp_path: Path, sims: SimHandle, clickhouse: ClickHouse) -> None:
    database = "crash_" + secrets.token_hex(4)
    # nothing is flushed before the kill: the store only learns from the spool's replay
    gw = make_gateway(tmp_path, sims, clickhouse, flush_ms=600_000, database=database)
    gw.start()
    try:
        key = gw.new_keys("acme")["acme"]
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
        for i in range(ANSWERED):
            c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"n{i}"}]
            )
        started = threading.Event()

        def long_stream() -> None:  # about 16 s of tokens: cut off by the kill
            try:
                for _ in c.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "long"}], stream=True
                ):
                    started.set()
            except Exception:
                pass

        t = threading.Thread(target=long_stream, daemon=True)
        t.start()
        assert started.wait(30)
        gw.kill9()
        t.join(10)
        exists = clickhouse.query(f"EXISTS TABLE {database}.usage_events").strip() == "1"
        count = f"SELECT count() FROM {database}.usage_events"
        assert not exists or clickhouse.query(count).strip() == "0"  # nothing flushed yet
        series_before = set(list_series(gw.data_dir / "usage-spool"))
        assert series_before  # the killed process's spool

        gw.start()  # same data dir: the dead run's spool is replayed
        rows = poll(
            lambda: usage(gw, ADMIN_KEY, start_date=TODAY, end_date=TODAY, tenant="acme").json(),
            lambda body: sum(r["requests"] for r in body.get("data", [])) >= ANSWERED + 1,
        )
        by_model = {r["model"]: r for r in rows["data"]}
        assert by_model["llama-3.1-8b-instruct"]["requests"] == ANSWERED
        assert by_model["llama-3.1-70b-instruct"]["requests"] == 1
        outcomes = clickhouse.query(
            f"SELECT outcome, count() FROM {database}.usage_events FINAL "
            "GROUP BY outcome ORDER BY outcome FORMAT TSV"
        )
        assert outcomes.split() == ["completed", str(ANSWERED), "interrupted", "1"]
        # the replayed series is gone from the spool; only the new processes' remain: the
        # worker's, and the batch runner's once it is up (forked: at once; "p{pid}-...")
        left = poll(
            lambda: set(list_series(gw.data_dir / "usage-spool")),
            lambda tokens: not tokens & series_before,
        )
        assert not left & series_before
        owners = {int(token[1:].split("-", 1)[0]) for token in left}
        assert set(granian_workers(gw.pid)) <= owners
        assert owners <= set(granian_workers(gw.pid)) | set(batch_runners(gw.pid))
    finally:
        gw.stop()
