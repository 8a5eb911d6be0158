"""The fault matrix: every fault the suite injects, what the client must see and what
usage must record, and the test that proves it. One row per case; docs/faults.md
shows the same table (test_matrix.py keeps the two, and the tests, in step).

Rows point at tests wherever they live: faults that needed their own stack were
already tested beside it (usage, batch, routing) and are listed, not copied."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str  # as docs/faults.md's table names it
    fault: str  # what is broken, and how
    client: str  # what every client sees
    usage: str  # what the usage store holds afterwards
    tests: tuple[str, ...]  # "tests/DIR/FILE.py::function"


UPSTREAM = "tests/faults/test_upstream_faults.py"
READERS = "tests/faults/test_reader_faults.py"
STORES = "tests/faults/test_store_faults.py"
ROUTING = "tests/routing/test_resilience.py"
REDIS = "tests/admission/test_redis.py"
SPOOL = "tests/usage/test_spool.py"
FLUSHER = "tests/usage/test_flusher_process.py"
CRASH_PROGRESS = "tests/usage/test_crash_progress.py"
CRASH = "tests/usage/test_crash.py"
BATCH = "tests/batch/test_batch_durability.py"
HTTP1 = "tests/gateway/test_http1_failures.py"

MATRIX: tuple[Case, ...] = (
    Case(
        "worker killed mid-stream",
        "the worker (trtllm-serve simulator) gets SIGKILL after five tokens of a stream",
        "200, the tokens so far, then an `upstream_disconnected` error event, no [DONE]",
        "one event: status 200, outcome error (`stream_failed`), completion tokens = "
        "the model tokenizer's count of the text the client got",
        (
            f"{UPSTREAM}::test_worker_killed_mid_stream",
            f"{ROUTING}::test_killing_a_worker_under_load_fails_no_unstarted_request",
        ),
    ),
    Case(
        "worker killed before the first byte",
        "SIGKILL while the worker holds a non-streamed request it has not answered",
        "an error envelope: 502 `upstream_error` (the request is not sent again) or 503 "
        "`no_healthy_worker` (the worker was seen down first); never a 500",
        "one event with the client's status and code, 0 completion tokens",
        (
            f"{UPSTREAM}::test_worker_killed_before_the_first_byte",
            f"{HTTP1}::test_a_connection_reset_between_connect_and_write_is_a_502",
            f"{HTTP1}::test_a_written_request_is_not_sent_again_when_the_worker_closes_unanswered",
        ),
    ),
    Case(
        "worker closes a request unanswered",
        "the worker reads a non-streamed request on a kept-alive connection and closes it "
        "without a byte of answer (`[sim:drop_after=0]`)",
        "502 `upstream_error`; the worker got the request once (it is not sent again)",
        "one event: status 502, outcome error (`upstream_error`), 0 completion tokens",
        (f"{UPSTREAM}::test_worker_closing_unanswered_gets_the_request_once",),
    ),
    Case(
        "worker hangs after its headers",
        "the worker sends 200 and SSE headers, then nothing (`[sim:delay_ms=60000]`)",
        "cut at the model's `request_timeout_s`: 200 with an `upstream_timeout` error event",
        "one event: status 200, outcome error (`stream_failed`), 0 completion tokens",
        (f"{UPSTREAM}::test_worker_hanging_after_its_headers",),
    ),
    Case(
        "worker answers garbage",
        "a body that is not JSON, a stream chunk that is not JSON (`[sim:garbage]`)",
        "502 `upstream_error`; a stream: 200 with an `upstream_invalid_chunk` error event",
        "one event each, with the client's status; outcome error",
        (f"{UPSTREAM}::test_worker_answering_garbage",),
    ),
    Case(
        "client stops reading",
        "a client sends a streamed request and never reads its socket (4 KiB receive "
        "buffer) while the worker streams as fast as it can",
        "the connection reset once a send has taken nothing for `write_timeout_s`; the "
        "worker's request cancelled, its slot free for the next call. A client reading a "
        "burst a second keeps its stream to [DONE]",
        "one event: status 499, outcome error (`write_timeout`), completion tokens = those "
        "relayed before the cut; the slow reader's: 200 completed, the content chunks it got",
        (
            f"{READERS}::test_a_client_that_never_reads_is_cut_and_frees_its_slot",
            f"{READERS}::test_a_client_that_reads_slowly_keeps_its_stream",
        ),
    ),
    Case(
        "Redis stopped and restarted under load",
        "redis-server (the shared rate-limit budget) stopped, then started empty on its port",
        "every call 200 (0 failed): each replica admits its last seen share meanwhile",
        "every call stored once",
        (
            f"{STORES}::test_redis_stopped_and_restarted_under_load",
            f"{REDIS}::test_redis_down_admits_the_last_seen_share_and_never_fails",
        ),
    ),
    Case(
        "ClickHouse stopped under load",
        "the ClickHouse usage store down FAULTS_CLICKHOUSE_OUTAGE_S (default 10 s) under load",
        "every call 200 (0 failed)",
        "every call stored once (0 lost), the spool drained (flush lag back to 0)",
        (
            f"{STORES}::test_clickhouse_stopped_under_load",
            f"{SPOOL}::test_a_real_clickhouse_outage",
        ),
    ),
    Case(
        "spool disk full",
        "the spool on a 1 MiB tmpfs, filled by another file, then freed",
        "200, or 503 `usage_spool_full` (the call not run); 200 again once there is room",
        "every 200 stored once and whole (completed); no refused call stored",
        (
            f"{STORES}::test_spool_disk_full",
            f"{SPOOL}::test_a_full_disk_refuses_and_keeps_whole_lines",
            f"{SPOOL}::test_full_spool_refuses_new_calls_until_flushed",
        ),
    ),
    Case(
        "Granian worker killed -9",
        "SIGKILL to one Granian worker process, idle or with streams open",
        "calls on other workers unaffected; the killed worker's streams cut",
        "each call stored once; a cut stream as interrupted with the tokens it relayed",
        (
            f"{FLUSHER}::test_killing_a_worker_loses_nothing",
            f"{CRASH_PROGRESS}::test_a_killed_worker_keeps_its_streams_tokens",
        ),
    ),
    Case(
        "usage flusher killed -9",
        "SIGKILL to the flusher process under load; serve starts another",
        "every call 200",
        "every call stored once (re-inserted rows collapse by event id)",
        (f"{FLUSHER}::test_killing_the_flusher_process_loses_nothing",),
    ),
    Case(
        "batch runner killed -9",
        "SIGKILL to the batch runner process mid-batch; serve starts another",
        "the batch completes; every custom_id answered exactly once",
        "one usage event per batch line",
        (f"{BATCH}::test_kill9_of_the_runner_process",),
    ),
    Case(
        "whole serve killed -9",
        "SIGKILL to serve's whole process group (mid-batch; mid-stream), then a restart",
        "the batch completes with each line once; the cut stream ends with the connection",
        "the dead run's spool replayed: each call once, the cut stream as interrupted; "
        "one event per batch line",
        (f"{CRASH}::test_kill_9_loses_nothing", f"{BATCH}::test_kill9_of_the_whole_serve"),
    ),
)
