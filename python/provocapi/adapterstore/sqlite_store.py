"""`AdapterStore` in SQLite: `adapters.db` next to keys.db, in autocommit mode,
one short transaction per change (several gateway processes share the file)."""

from __future__ import annotations

import builtins
import secrets
import sqlite3
import time
from pathlib import Path

import orjson

from ..config import STORE_LORA_ID_START
from ..listing import UnknownCursor
from ..storage.sqlite_migrations import open_db
from .schema import MIGRATIONS
from .store import NameTaken, StoredAdapter

_COLUMNS = (
    "id, tenant, name, base_model, created_at, status, error, rank, target_modules,"
    " bytes, source, lora_int_id, deleted_at"
)


def _record(row: tuple) -> StoredAdapter:
    (aid, tenant, name, base, created, status, error, rank, modules, size, source, lid, deleted) = (
        row
    )
    return StoredAdapter(
        id=aid,
        tenant=tenant,
        name=name,
        base_model=base,
        created_at=created,
        status=status,
        error=error,
        rank=rank,
        target_modules=tuple(orjson.loads(modules)) if modules else (),
        bytes=size,
        source=orjson.loads(source),
        lora_int_id=lid,
        deleted_at=deleted,
    )


class SqliteAdapterStore:
    def __init__(self, data_dir: str | Path) -> None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.conn = open_db(Path(data_dir) / "adapters.db", MIGRATIONS, timeout_s=10)
        self.conn.isolation_level = None  # explicit BEGIN IMMEDIATE where it matters

    def create(
        self, tenant: str, name: str, base_model: str, source: dict[str, object]
    ) -> StoredAdapter:
        aid = "adp_" + secrets.token_hex(12)
        now = int(time.time())
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute("SELECT last FROM lora_ids WHERE one = 1").fetchone()
            lora_int_id = (row[0] if row else STORE_LORA_ID_START - 1) + 1
            c.execute("INSERT OR REPLACE INTO lora_ids (one, last) VALUES (1, ?)", (lora_int_id,))
            c.execute(
                "INSERT INTO adapters (id, tenant, name, base_model, created_at, status, source,"
                " lora_int_id) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (aid, tenant, name, base_model, now, orjson.dumps(source).decode(), lora_int_id),
            )
        except sqlite3.IntegrityError:
            c.execute("ROLLBACK")
            raise NameTaken(name) from None
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        got = self.get(aid)
        assert got is not None
        return got

    def mark_ready(self, adapter_id: str, rank: int, modules: tuple[str, ...], size: int) -> None:
        self.conn.execute(
            "UPDATE adapters SET status = 'ready', rank = ?, target_modules = ?, bytes = ?"
            " WHERE id = ? AND status = 'pending'",
            (rank, orjson.dumps(list(modules)).decode(), size, adapter_id),
        )

    def mark_failed(self, adapter_id: str, error: str) -> None:
        self.conn.execute(
            "UPDATE adapters SET status = 'failed', error = ? WHERE id = ? AND status = 'pending'",
            (error, adapter_id),
        )

    def get(self, adapter_id: str) -> StoredAdapter | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM adapters WHERE id = ? AND status != 'deleted'", (adapter_id,)
        ).fetchone()
        return _record(row) if row else None

    def list(self, tenant: str | None, after: str | None, limit: int) -> list[StoredAdapter]:
        sql = f"SELECT {_COLUMNS} FROM adapters WHERE status != 'deleted'"
        args: list[object] = []
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if after is not None:
            if not self._listed(tenant, after):
                raise UnknownCursor(after)
            sql += " AND id > ?"
            args.append(after)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [_record(r) for r in self.conn.execute(sql, args).fetchall()]

    def _listed(self, tenant: str | None, adapter_id: str) -> bool:
        """Whether the list asked for (a tenant's, or every one's) holds this live id."""
        got = self.get(adapter_id)
        return got is not None and tenant in (None, got.tenant)

    def delete(self, adapter_id: str) -> bool:
        cur = self.conn.execute(
            "UPDATE adapters SET status = 'deleted', deleted_at = ?"
            " WHERE id = ? AND status != 'deleted'",
            (int(time.time()), adapter_id),
        )
        return cur.rowcount == 1

    def ready(self) -> builtins.list[StoredAdapter]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM adapters WHERE status = 'ready'"
        ).fetchall()
        return [_record(r) for r in rows]

    def tenant_usage(self, tenant: str) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM adapters"
            " WHERE tenant = ? AND status IN ('pending', 'ready')",
            (tenant,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def fail_stale_pending(self, created_before: int, reason: str) -> int:
        cur = self.conn.execute(
            "UPDATE adapters SET status = 'failed', error = ?"
            " WHERE status = 'pending' AND created_at < ?",
            (reason, created_before),
        )
        return cur.rowcount

    def due_for_purge(self, deleted_before: int) -> builtins.list[StoredAdapter]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM adapters WHERE status = 'deleted' AND purged = 0"
            " AND deleted_at <= ?",
            (deleted_before,),
        ).fetchall()
        return [_record(r) for r in rows]

    def mark_purged(self, adapter_id: str) -> None:
        self.conn.execute("UPDATE adapters SET purged = 1 WHERE id = ?", (adapter_id,))

    def data_version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])
