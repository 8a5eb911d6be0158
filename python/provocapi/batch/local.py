"""The embedded stores: files in a directory, metadata and progress in SQLite,
both under the data dir (`DATA_DIR/batch/`)."""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from pathlib import Path

import orjson

from ..durable import fsync_dir
from ..listing import UnknownCursor
from ..storage.sqlite_migrations import open_db
from .records import ACTIVE, BatchRecord, Expiry, FileRecord, LineTokens, OverQuota, Part
from .schema import MIGRATIONS

CHUNK = 64 * 1024
_FILE_COLS = "id, tenant, purpose, filename, bytes, created_at, expires_at"
_BATCH_COLS = (
    "id, tenant, key_id, endpoint, input_file_id, window, status, metadata, errors, total, "
    "completed, failed, output_file_id, error_file_id, created_at, expires_at, in_progress_at, "
    "finalizing_at, completed_at, failed_at, expired_at, cancelling_at, cancelled_at, model, "
    "input_tokens, cached_tokens, output_tokens, reasoning_tokens, output_expiry_s"
)
_BATCH_COUNT = _BATCH_COLS.count(",") + 1
_STAMPED = {
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
}


_NONE = LineTokens()


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def connect(root: Path) -> sqlite3.Connection:
    return open_db(root / "batch.db", MIGRATIONS, timeout_s=10)


class LocalFileStore:
    def __init__(self, root: Path, conn: sqlite3.Connection, expiry_s: int) -> None:
        self.dir = root / "files"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conn = conn
        self.expiry_s = expiry_s

    def _path(self, file_id: str) -> Path:
        return self.dir / file_id

    def _insert(
        self, file_id: str, tenant: str, purpose: str, name: str, size: int, expires: Expiry
    ) -> FileRecord:
        now = int(time.time())
        life = self.expiry_s if expires == "default" else expires
        rec = FileRecord(
            file_id, tenant, purpose, name, size, now, None if life is None else now + life
        )
        self.conn.execute(  # REPLACE: a batch's output written again (write's file_id)
            f"INSERT OR REPLACE INTO files ({_FILE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rec.id, tenant, purpose, name, size, rec.created_at, rec.expires_at),
        )
        return rec

    async def receive(self, chunks: AsyncIterator[bytes]) -> Part:
        """Streams an upload into a temporary file (no fsync, no row yet)."""
        file_id = new_id("file-")
        tmp = self.dir / f".{file_id}.part"
        size = 0
        try:
            with open(tmp, "wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    out.flush()  # its mtime shows it alive to the leftover sweep
                    size += len(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Part(file_id, tmp, size)

    def commit(
        self, part: Part, tenant: str, purpose: str, filename: str, quota: int | None = None
    ) -> FileRecord:
        """Makes a received upload durable and visible; OverQuota (and nothing kept)
        when the tenant's files would pass `quota`, checked and stored in one
        transaction, so uploads that streamed at the same time cannot all fit."""
        try:
            with open(part.tmp, "rb+") as out:
                os.fsync(out.fileno())
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            part.tmp.unlink(missing_ok=True)
            raise
        try:
            used = self.used_bytes(tenant)
            if quota is not None and used + part.size > quota:
                raise OverQuota(used)
            os.replace(part.tmp, self._path(part.file_id))
            fsync_dir(self.dir)  # the name, before the row that points at it commits
            rec = self._insert(part.file_id, tenant, purpose, filename, part.size, "default")
        except BaseException:
            self.conn.execute("ROLLBACK")
            part.tmp.unlink(missing_ok=True)
            raise
        self.conn.execute("COMMIT")
        return rec

    def write(
        self,
        tenant: str,
        purpose: str,
        filename: str,
        chunks: Iterable[bytes],
        file_id: str | None = None,
        expires: Expiry = "default",
    ) -> FileRecord:
        file_id = file_id or new_id("file-")
        tmp = self.dir / f".{file_id}.part"
        size = 0
        with open(tmp, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._path(file_id))
        fsync_dir(self.dir)
        return self._insert(file_id, tenant, purpose, filename, size, expires)

    def get(self, tenant: str, file_id: str) -> FileRecord | None:
        row = self.conn.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE id = ? AND tenant = ?", (file_id, tenant)
        ).fetchone()
        return FileRecord(*row) if row else None

    def page(
        self,
        tenant: str,
        purpose: str | None,
        after: str | None,
        limit: int,
        order: str,
        now: float,
    ) -> list[FileRecord]:
        desc = order != "asc"
        sql = (
            f"SELECT {_FILE_COLS} FROM files WHERE tenant = ?"
            " AND (expires_at IS NULL OR expires_at > ?)"
        )
        args: list[object] = [tenant, now]
        if purpose:
            sql += " AND purpose = ?"
            args.append(purpose)
        if after:
            row = self.conn.execute(
                "SELECT created_at, rowid FROM files WHERE id = ? AND tenant = ?", (after, tenant)
            ).fetchone()
            if row is None:
                raise UnknownCursor(after)
            op = "<" if desc else ">"
            sql += f" AND (created_at, rowid) {op} (?, ?)"
            args += [row[0], row[1]]
        direction = "DESC" if desc else "ASC"
        # within a second, the order rows were made in (rowid), not the random ids
        sql += f" ORDER BY created_at {direction}, rowid {direction} LIMIT ?"
        args.append(limit)
        return [FileRecord(*r) for r in self.conn.execute(sql, args)]

    def set_terms(self, tenant: str, file_id: str, purpose: str, expires: int | None) -> None:
        self.conn.execute(
            "UPDATE files SET purpose = ?, expires_at = created_at + ? WHERE id = ? AND tenant = ?",
            (purpose, expires, file_id, tenant),
        )

    def chunks(self, file_id: str) -> Generator[bytes, None, None]:
        with open(self._path(file_id), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def lines(self, file_id: str) -> Iterator[bytes]:
        with open(self._path(file_id), "rb") as f:
            yield from f

    def delete(self, tenant: str, file_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM files WHERE id = ? AND tenant = ?", (file_id, tenant))
        if cur.rowcount != 1:
            return False
        self._path(file_id).unlink(missing_ok=True)
        return True

    def used_bytes(self, tenant: str) -> int:
        row = self.conn.execute("SELECT SUM(bytes) FROM files WHERE tenant = ?", (tenant,))
        return int(row.fetchone()[0] or 0)

    def sweep_leftovers(self, older_than: float) -> int:
        """Deletes what a killed process left here last changed before `older_than`:
        an upload's `.part` and a file renamed into place without its row. Returns
        how many went."""
        gone = 0
        for entry in os.scandir(self.dir):
            name = entry.name
            part = name.startswith(".file-") and name.endswith(".part")
            if not part and not name.startswith("file-"):
                continue
            try:
                if entry.stat().st_mtime >= older_than:
                    continue
            except FileNotFoundError:
                continue
            if not part:
                known = self.conn.execute("SELECT 1 FROM files WHERE id = ?", (name,))
                if known.fetchone() is not None:
                    continue
            Path(entry.path).unlink(missing_ok=True)
            gone += 1
        return gone

    def expired(self, now: int) -> list[FileRecord]:
        rows = self.conn.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?",
            (now,),
        )
        return [FileRecord(*r) for r in rows]


def _batch(row: tuple) -> BatchRecord:
    values = list(row)
    values[7] = orjson.loads(values[7]) if values[7] else None
    values[8] = orjson.loads(values[8]) if values[8] else None
    return BatchRecord(*values)


class SqliteBatchStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def create(self, rec: BatchRecord) -> None:
        self.conn.execute(
            f"INSERT INTO batches ({_BATCH_COLS}) VALUES ({', '.join('?' * _BATCH_COUNT)})",
            (
                rec.id,
                rec.tenant,
                rec.key_id,
                rec.endpoint,
                rec.input_file_id,
                rec.window,
                rec.status,
                orjson.dumps(rec.metadata).decode() if rec.metadata is not None else None,
                None,
                rec.total,
                rec.completed,
                rec.failed,
                None,
                None,
                rec.created_at,
                rec.expires_at,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                rec.model,
                rec.input_tokens,
                rec.cached_tokens,
                rec.output_tokens,
                rec.reasoning_tokens,
                rec.output_expiry_s,
            ),
        )

    def get(self, tenant: str | None, batch_id: str) -> BatchRecord | None:
        if tenant is None:
            row = self.conn.execute(
                f"SELECT {_BATCH_COLS} FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
        else:
            row = self.conn.execute(
                f"SELECT {_BATCH_COLS} FROM batches WHERE id = ? AND tenant = ?",
                (batch_id, tenant),
            ).fetchone()
        return _batch(row) if row else None

    def page(self, tenant: str, after: str | None, limit: int) -> list[BatchRecord]:
        sql = f"SELECT {_BATCH_COLS} FROM batches WHERE tenant = ?"
        args: list[object] = [tenant]
        if after:
            row = self.conn.execute(
                "SELECT created_at, rowid FROM batches WHERE id = ? AND tenant = ?",
                (after, tenant),
            ).fetchone()
            if row is None:
                raise UnknownCursor(after)
            sql += " AND (created_at, rowid) < (?, ?)"
            args += [row[0], row[1]]
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        args.append(limit)
        return [_batch(r) for r in self.conn.execute(sql, args)]

    def update(self, batch_id: str, **fields: object) -> None:
        cols = ", ".join(f"{name} = ?" for name in fields)
        values = [
            orjson.dumps(v).decode() if isinstance(v, (dict, list)) else v for v in fields.values()
        ]
        self.conn.execute(f"UPDATE batches SET {cols} WHERE id = ?", (*values, batch_id))

    def set_status(self, batch_id: str, status: str, now: int, only_from: tuple[str, ...]) -> bool:
        stamp = f", {status}_at = {int(now)}" if status in _STAMPED else ""
        marks = ", ".join("?" * len(only_from))
        cur = self.conn.execute(
            f"UPDATE batches SET status = ?{stamp} WHERE id = ? AND status IN ({marks})",
            (status, batch_id, *only_from),
        )
        return cur.rowcount == 1

    def claim(self, owner: str, lease_s: float) -> BatchRecord | None:
        now = time.time()
        marks = ", ".join("?" * len(ACTIVE))
        row = self.conn.execute(
            f"""UPDATE batches SET lease_owner = ?, lease_until = ?
WHERE id = (SELECT id FROM batches WHERE status IN ({marks})
            AND (lease_until IS NULL OR lease_until < ?) ORDER BY created_at, id LIMIT 1)
RETURNING {_BATCH_COLS}""",
            (owner, now + lease_s, *ACTIVE, now),
        ).fetchone()
        return _batch(row) if row else None

    def renew(self, batch_id: str, owner: str, lease_s: float) -> bool:
        cur = self.conn.execute(
            "UPDATE batches SET lease_until = ? WHERE id = ? AND lease_owner = ?",
            (time.time() + lease_s, batch_id, owner),
        )
        return cur.rowcount == 1

    def release(self, batch_id: str, owner: str) -> None:
        self.conn.execute(
            "UPDATE batches SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (batch_id, owner),
        )

    def record_line(
        self, batch_id: str, line: int, ok: bool, outcome: bytes, tokens: LineTokens = _NONE
    ) -> bool:
        # one transaction: a crash between the line and its counts would leave the
        # line answered (never run again) and the counts short for good
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO lines (batch_id, line, ok, outcome) VALUES (?, ?, ?, ?)",
                (batch_id, line, int(ok), outcome),
            )
            kept = cur.rowcount == 1
            if kept:
                column = "completed" if ok else "failed"
                # a batch from before usage was kept (NULL) stays without it
                self.conn.execute(
                    f"UPDATE batches SET {column} = {column} + 1,"
                    " input_tokens = input_tokens + ?, cached_tokens = cached_tokens + ?,"
                    " output_tokens = output_tokens + ?,"
                    " reasoning_tokens = reasoning_tokens + ? WHERE id = ?",
                    (tokens.input, tokens.cached, tokens.output, tokens.reasoning, batch_id),
                )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return kept

    def answered(self, batch_id: str) -> set[int]:
        rows = self.conn.execute("SELECT line FROM lines WHERE batch_id = ?", (batch_id,))
        return {r[0] for r in rows}

    def outcomes(self, batch_id: str, ok: bool) -> Iterator[bytes]:
        # a cursor of its own: rows stream, never all in memory
        cur = self.conn.execute(
            "SELECT outcome FROM lines WHERE batch_id = ? AND ok = ? ORDER BY line",
            (batch_id, int(ok)),
        )
        for (outcome,) in cur:
            yield bytes(outcome)

    def active_using(self, file_id: str) -> bool:
        marks = ", ".join("?" * len(ACTIVE))
        row = self.conn.execute(
            f"SELECT 1 FROM batches WHERE input_file_id = ? AND status IN ({marks}) LIMIT 1",
            (file_id, *ACTIVE),
        ).fetchone()
        return row is not None

    def active_of_key(self, key_id: str) -> list[str]:
        marks = ", ".join("?" * len(ACTIVE))
        rows = self.conn.execute(
            f"SELECT id FROM batches WHERE key_id = ? AND status IN ({marks})",
            (key_id, *ACTIVE),
        )
        return [r[0] for r in rows]
