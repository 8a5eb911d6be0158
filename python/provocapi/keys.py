"""API keys: created by the CLI, stored hashed in SQLite, read by the server.

A key is `pk-prov-` + 43 URL-safe random characters (256 bits). Only its
SHA-256 is stored: with that much entropy a slow hash buys nothing, and the
lookup stays one dict access per request. The server picks up keys created or
revoked by another process within a second (see `KeyCache`).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from .keys_schema import MIGRATIONS
from .storage.sqlite_migrations import open_db

KEY_PREFIX = "pk-prov-"
_PREFIX = KEY_PREFIX.encode()
MAX_KEY_BYTES = 128  # a longer credential is not looked up at all


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    tenant: str
    hint: str
    models: tuple[str, ...] | None  # narrows the tenant's models; None: all of them
    rpm: int | None
    tpm: int | None
    created: int
    revoked: int | None


# Keyless local mode ([server] auth = "none"): every caller is this key of tenant `local`.
LOCAL_TENANT = "local"
LOCAL_KEY = KeyRecord(
    id="key_local",
    tenant=LOCAL_TENANT,
    hint="(no auth)",
    models=None,
    rpm=None,
    tpm=None,
    created=0,
    revoked=None,
)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _connect(data_dir: str | Path) -> sqlite3.Connection:
    # migrated forward on open (keys_schema.py); SchemaTooNew for a newer release's file
    return open_db(Path(data_dir) / "keys.db", MIGRATIONS, timeout_s=10)


def _record(row: tuple) -> KeyRecord:
    kid, _hash, hint, tenant, models, rpm, tpm, created, revoked = row
    return KeyRecord(
        id=kid,
        tenant=tenant,
        hint=hint,
        models=tuple(orjson.loads(models)) if models else None,
        rpm=rpm,
        tpm=tpm,
        created=created,
        revoked=revoked,
    )


class KeyStore:
    """The keys table; used by the CLI (writes) and the server (reads)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.conn = _connect(data_dir)

    def create(
        self,
        tenant: str,
        models: list[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
    ) -> tuple[str, KeyRecord]:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        kid = "key_" + secrets.token_hex(8)
        now = int(time.time())
        hint = secret[:12] + "..." + secret[-4:]
        self.conn.execute(
            "INSERT INTO keys (id, hash, hint, tenant, models, rpm, tpm, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kid,
                hash_key(secret),
                hint,
                tenant,
                orjson.dumps(models).decode() if models else None,
                rpm,
                tpm,
                now,
            ),
        )
        rec = KeyRecord(kid, tenant, hint, tuple(models) if models else None, rpm, tpm, now, None)
        return secret, rec

    def revoke(self, key_id: str) -> bool:
        cur = self.conn.execute(
            "UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
            (int(time.time()), key_id),
        )
        return cur.rowcount == 1

    def list(self) -> list[KeyRecord]:
        rows = self.conn.execute("SELECT * FROM keys ORDER BY created, id").fetchall()
        return [_record(r) for r in rows]

    def active_by_hash(self) -> dict[str, KeyRecord]:
        rows = self.conn.execute("SELECT * FROM keys WHERE revoked IS NULL").fetchall()
        return {r[1]: _record(r) for r in rows}

    def data_version(self) -> int:
        # Changes whenever another connection commits: a free change detector.
        row = self.conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])


MISS_CHECK_S = 0.01


class KeyCache:
    """The server's view of the keys: one dict lookup per request for a known key.

    `refresh()` is called about every 250 ms by the app; it reloads only when
    another process committed, so revoked keys stop within a second. A key not
    found also checks for a change first, so a key works from its first call.
    A wrong key costs a SHA-256 and a dict lookup and leaves nothing behind: what
    is remembered is the secret of an active key, one entry per key at most.
    """

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._version = -1
        self._by_hash: dict[str, KeyRecord] = {}
        self._known: dict[bytes, KeyRecord] = {}  # secret → record, active keys only
        self._next_miss_check = 0.0
        self.refresh()

    def refresh(self) -> bool:
        version = self.store.data_version()
        if version == self._version:
            return False
        self._by_hash = self.store.active_by_hash()
        self._known = {}
        self._version = version
        return True

    def active_by_id(self, key_id: str) -> KeyRecord | None:
        """The key while it is not revoked (the batch runner asks per line)."""
        return next((r for r in self._by_hash.values() if r.id == key_id), None)

    def lookup(self, secret: bytes) -> KeyRecord | None:
        rec = self._known.get(secret)
        if rec is not None:
            return rec
        if len(secret) > MAX_KEY_BYTES or not secret.startswith(_PREFIX):
            return None
        digest = hashlib.sha256(secret).hexdigest()
        rec = self._by_hash.get(digest)
        if rec is None and self._changed_since_refresh():
            # a key created a moment ago (`keys create`, then the first call at once)
            rec = self._by_hash.get(digest)
        if rec is not None:  # each active key's hash matches one secret: bounded by the keys
            self._known[secret] = rec
        return rec

    def _changed_since_refresh(self) -> bool:
        """On a miss: reload if the store changed, at most every MISS_CHECK_S (a flood
        of wrong keys costs at most that many version checks a second)."""
        now = time.monotonic()
        if now < self._next_miss_check:
            return False
        self._next_miss_check = now + MISS_CHECK_S
        try:
            return self.refresh()
        except sqlite3.Error:  # a busy db: the periodic refresh will catch up
            return False

    def remembered(self) -> int:
        """Secrets held in memory (the tests check it stays within the active keys)."""
        return len(self._known)
