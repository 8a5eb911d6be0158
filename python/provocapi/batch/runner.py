"""Runs batches: claims one under a lease, validates it, sends its lines through
the pipeline, then writes the output and error files.

Every answered line's outcome is kept in the store before it counts, and the
files are written from those rows at the end, so a runner that dies anywhere
leaves a batch another runner resumes (after the lease runs out) with every
line answered exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Iterator

import orjson

from ..beat import sleep_to_beat
from ..gateway import Gateway
from ..keys import LOCAL_KEY, KeyRecord
from .jsonl import task_lines
from .line_call import run_line
from .priority import (
    OnlineLoad,
    TokenWindow,
    adaptive_cap,
    batch_tpm,
    online_waiting,
    pool_load,
    share_cap,
)
from .records import BatchRecord, Expiry, LineTokens
from .service import Stores, stores
from .validate import check

log = logging.getLogger("provocapi.batch")

TURN_WAIT_S = 0.05  # how often a waiting line looks again
# what a killed process left in the files dir goes once this old: an upload still
# streaming writes at least every body deadline (30 s by default), so none is that stale
LEFTOVER_AGE_S = 600.0
LEFTOVER_SWEEP_S = 60.0  # how often the directory is scanned for them (and at start)


class LeaseLost(Exception):
    """Another runner took the batch over (this one was too slow to renew)."""


class LinesUnkept(Exception):
    """Some line's outcome could not be stored (the store refused the write): the
    batch is left in progress, and the next claim runs those lines again."""


def parsed_body(body: bytes) -> object:
    """An answer's JSON, or its text if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def outcome(custom_id: str, status: int, request_id: str, parsed: object) -> bytes:
    return orjson.dumps(
        {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id, "body": parsed},
            "error": None,
        }
    )


def unanswered(custom_id: str, code: str, message: str) -> bytes:
    return orjson.dumps(
        {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        }
    )


def numbered(lines: Iterator[bytes]) -> Iterator[tuple[int, dict[str, object]]]:
    """(line number, task) for each non-blank line of a validated file."""
    for number, raw in task_lines(lines):
        yield number, orjson.loads(raw)


class Runner:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.tokens = TokenWindow()
        self.online = OnlineLoad()
        # lines this runner started and not yet answered, per model: counted from
        # the moment they start, before they reach routing, so the cap never overshoots
        self.reserved: dict[str, int] = {}
        self.swept_at = -LEFTOVER_SWEEP_S  # monotonic; the first loop turn sweeps

    @property
    def cfg(self):  # type: ignore[no-untyped-def]
        return self.gw.cfg.batch

    async def run(self) -> None:
        """The background loop: up to `parallel_batches` batches at once, forever."""
        st = stores(self.gw)
        working: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    self._sweep_files(st)
                    rec = None
                    if len(working) < max(1, self.cfg.parallel_batches):
                        rec = st.batches.claim(self.owner, self.cfg.lease_s)
                    if rec is None:
                        await sleep_to_beat(self.cfg.poll_interval_s)
                        continue
                    task = asyncio.create_task(self._leased(st, rec))
                    working.add(task)
                    task.add_done_callback(working.discard)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("batch runner error")
                    await asyncio.sleep(self.cfg.poll_interval_s)
        finally:
            for task in working:
                task.cancel()
            for task in list(working):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _leased(self, st: Stores, rec: BatchRecord) -> None:
        work = asyncio.create_task(self.work(st, rec))
        keeper = asyncio.create_task(self._keep_lease(st, rec, work))
        try:
            await work
        except asyncio.CancelledError:
            if not keeper.done():  # this runner is stopping: the work stops with it
                work.cancel()
                raise
            log.warning("lost the lease of %s to another runner", rec.id)
        except LeaseLost:
            log.warning("lost the lease of %s to another runner", rec.id)
        except LinesUnkept as exc:
            log.warning("%s; the batch is run again", exc)
        except Exception:
            log.exception("batch %s failed in the runner; it is retried", rec.id)
        finally:
            keeper.cancel()
            st.batches.release(rec.id, self.owner)

    async def _keep_lease(self, st: Stores, rec: BatchRecord, work: asyncio.Task[None]) -> None:
        """Renews the lease while the batch runs (lines may wait long for their turn)."""
        while True:
            await asyncio.sleep(self.cfg.lease_s / 3)
            if not st.batches.renew(rec.id, self.owner, self.cfg.lease_s):
                work.cancel()
                return

    def _sweep_files(self, st: Stores) -> None:
        for rec in st.files.expired(int(time.time())):
            if not st.batches.active_using(rec.id):
                st.files.delete(rec.tenant, rec.id)
        if time.monotonic() - self.swept_at >= LEFTOVER_SWEEP_S:
            self.swept_at = time.monotonic()
            gone = st.files.sweep_leftovers(time.time() - LEFTOVER_AGE_S)
            if gone:
                log.info("deleted %d file(s) left by a killed process", gone)

    def _key(self, key_id: str) -> KeyRecord | None:
        """The creating key, while it is not revoked."""
        if self.gw.keyless and key_id == LOCAL_KEY.id:
            return LOCAL_KEY
        found = self.gw.keys.active_by_id(key_id)
        if found is None:  # created since the last refresh (every 250 ms), or revoked
            self.gw.keys.refresh()
            found = self.gw.keys.active_by_id(key_id)
        return found

    async def work(self, st: Stores, rec: BatchRecord) -> None:
        now = int(time.time())
        if rec.status == "cancelling" and rec.in_progress_at is None:
            # cancelled before its file was validated: no line ran and none is
            # reported (its lines may not even parse), so the counts stay 0 of 0
            st.batches.update(rec.id, total=0)
            st.batches.set_status(rec.id, "cancelled", now, ("cancelling",))
            return
        if rec.status == "validating":
            checked = check(
                st.files.lines(rec.input_file_id),
                rec.endpoint,
                self.cfg.max_lines,
                self.gw.catalog.canonical,
            )
            st.batches.update(rec.id, total=checked.total, model=checked.model)
            if checked.errors:
                st.batches.update(rec.id, errors=checked.errors)
                st.batches.set_status(rec.id, "failed", now, ("validating",))
                return
            st.batches.set_status(rec.id, "in_progress", now, ("validating",))
        fresh = st.batches.get(None, rec.id)
        if fresh is None:
            return
        stop = "expired" if fresh.expired_at is not None else None  # ending began before
        if fresh.status == "in_progress" and stop is None:
            stop = await self._lines(st, fresh)
        fresh = st.batches.get(None, rec.id)
        if fresh is None:
            return
        if fresh.status == "cancelling" or stop == "cancelled":
            self._unrun(
                st, fresh, "batch_cancelled", "The batch was cancelled before this line ran."
            )
            self._finish(st, fresh, "cancelled", ("cancelling", "in_progress"))
        elif stop == "expired":  # every line answered in time: completed, however late
            # stamped first: a runner killed from here on leaves the next one to end
            # it expired, not completed (its unrun lines already read as answered)
            st.batches.update(rec.id, expired_at=fresh.expired_at or int(time.time()))
            self._unrun(st, fresh, "batch_expired", "The batch expired before this line ran.")
            self._finish(st, fresh, "expired", ("in_progress", "finalizing", "validating"))
        elif fresh.status in ("in_progress", "finalizing"):
            missing = fresh.total - len(st.batches.answered(rec.id))
            if missing > 0:  # a line's outcome was not kept: it runs again, never dropped
                raise LinesUnkept(f"{missing} line(s) of {rec.id} not kept yet")
            self._finish(st, fresh, "completed", ("in_progress", "finalizing"))

    async def _lines(self, st: Stores, rec: BatchRecord) -> str | None:
        """Runs the lines not answered yet; says why it stopped early, if it did."""
        done = st.batches.answered(rec.id)
        model = _first_model(st, rec)
        limit = asyncio.Semaphore(share_cap(self.gw, model, self.cfg.line_concurrency))
        tasks: set[asyncio.Task[None]] = set()
        stop: str | None = None
        renewed = time.monotonic()
        for number, task in numbered(st.files.lines(rec.input_file_id)):
            if number in done:
                continue
            await limit.acquire()
            if time.monotonic() - renewed > self.cfg.lease_s / 3:
                if not st.batches.renew(rec.id, self.owner, self.cfg.lease_s):
                    limit.release()
                    raise LeaseLost
                renewed = time.monotonic()
            stop = await self._turn(st, rec, model)
            if stop is not None:
                limit.release()
                break
            key = self._key(rec.key_id)
            if key is None:  # revoking the creating key cancels its batches
                st.batches.set_status(rec.id, "cancelling", int(time.time()), ("in_progress",))
                self._unreserve(model)
                limit.release()
                stop = "cancelled"
                break
            t = asyncio.create_task(self._one(st, rec, key, number, task))
            tasks.add(t)
            t.add_done_callback(lambda _t: limit.release())
            t.add_done_callback(lambda _t: self._unreserve(model))
            t.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.wait(set(tasks))
            if not st.batches.renew(rec.id, self.owner, self.cfg.lease_s):
                raise LeaseLost
        return stop

    async def _turn(self, st: Stores, rec: BatchRecord, model: object) -> str | None:
        """Waits while online calls queue for the model, leave no idle room, or the
        tenant's batch_tpm is used up; then reserves the line's place. Says why the
        batch stops instead, if it does."""
        while True:
            stop = self._should_stop(st, rec)
            if stop is not None:
                return stop
            budget = batch_tpm(self.gw.cfg, rec.tenant)
            over = budget is not None and self.tokens.used(rec.tenant) >= budget
            if not over and not online_waiting(self.gw, model) and self._room(model):
                self.reserved[str(model)] = self.reserved.get(str(model), 0) + 1
                return None
            await asyncio.sleep(TURN_WAIT_S)

    def _room(self, model: object) -> bool:
        """Whether one more line fits under the adaptive cap (priority.py)."""
        load = pool_load(self.gw, model)
        if load is None:  # no capacity known: the semaphore and queue checks decide
            return True
        online = self.online.observe(str(model), load.online)
        cfg = self.cfg
        allowed = adaptive_cap(load.capacity, cfg.batch_max_share, cfg.batch_headroom, online)
        # other runners' lines show in the routers' count once they hold a unit
        lines = max(self.reserved.get(str(model), 0), load.batch)
        return lines < allowed

    def _unreserve(self, model: object) -> None:
        self.reserved[str(model)] = max(0, self.reserved.get(str(model), 0) - 1)

    def _should_stop(self, st: Stores, rec: BatchRecord) -> str | None:
        if time.time() >= rec.expires_at:
            return "expired"
        now = st.batches.get(None, rec.id)
        if now is None or now.status == "cancelling":
            return "cancelled"
        return None

    async def _one(
        self, st: Stores, rec: BatchRecord, key: KeyRecord, number: int, task: dict[str, object]
    ) -> None:
        body = orjson.dumps(task["body"])
        custom_id = str(task["custom_id"])
        event_id = f"{rec.id}:{number}"
        while True:
            answer = await run_line(self.gw, key, rec.endpoint, body, event_id, rec.id)
            if answer.wait_s is None:
                break
            if self._should_stop(st, rec) is not None:
                return  # left unanswered: finishing marks it cancelled or expired
            await asyncio.sleep(answer.wait_s)
        ok = 200 <= answer.status < 300
        parsed = parsed_body(answer.body)
        tokens = LineTokens.of(parsed) if ok else LineTokens()
        self.tokens.add(rec.tenant, tokens.total)
        line = outcome(custom_id, answer.status, answer.request_id, parsed)
        try:
            st.batches.record_line(rec.id, number, ok, line, tokens)
        except Exception as exc:  # left unanswered: the batch runs it again (LinesUnkept)
            log.warning("line %d of %s not kept (%s); it runs again", number, rec.id, exc)

    def _unrun(self, st: Stores, rec: BatchRecord, code: str, message: str) -> None:
        done = st.batches.answered(rec.id)
        for number, task in numbered(st.files.lines(rec.input_file_id)):
            if number not in done:
                line = unanswered(str(task.get("custom_id")), code, message)
                st.batches.record_line(rec.id, number, False, line)

    def _finish(self, st: Stores, rec: BatchRecord, final: str, only_from: tuple[str, ...]) -> None:
        now = int(time.time())
        st.batches.set_status(rec.id, "finalizing", now, ("in_progress",))
        out = _file(st, rec, True, "output")
        err = _file(st, rec, False, "error")
        st.batches.update(rec.id, output_file_id=out, error_file_id=err)
        st.batches.set_status(rec.id, final, now, (*only_from, "finalizing"))


def _first_model(st: Stores, rec: BatchRecord) -> object:
    """The batch's model (validation made it one per file)."""
    for _, task in numbered(st.files.lines(rec.input_file_id)):
        body = task.get("body")
        return body.get("model") if isinstance(body, dict) else None
    return None


def _file(st: Stores, rec: BatchRecord, ok: bool, what: str) -> str | None:
    rows = st.batches.outcomes(rec.id, ok)
    first = next(rows, None)
    if first is None:
        return None

    def chunks() -> Iterator[bytes]:
        yield first + b"\n"
        for row in rows:
            yield row + b"\n"

    name = f"{rec.id}_{what}.jsonl"
    expires: Expiry = "default" if rec.output_expiry_s is None else rec.output_expiry_s
    stored = st.files.write(
        rec.tenant, "batch_output", name, chunks(), output_file_id(name), expires
    )
    return stored.id


def output_file_id(name: str) -> str:
    """The id of a batch's output or error file, the same on every attempt: a runner
    that dies between writing the files and recording them on the batch leaves its
    files to the next attempt to replace, not beside the new ones in the listing."""
    return "file-" + hashlib.sha256(name.encode()).hexdigest()[:24]
