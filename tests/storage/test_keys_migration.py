"""keys.db made by the release before versions opens with this one: stamped
version 1, every key still authenticates, lists and revokes. Today's DDL and
writes are copied here, frozen."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import provocapi.keys
import pytest
from provocapi.keys import KeyCache, KeyStore, hash_key
from provocapi.keys_schema import MIGRATIONS
from provocapi.storage.migrations import Migrated, Migrations, SchemaTooNew, Step
from provocapi.storage.sqlite_migrations import SqliteApply, ddl, migrate, user_version

from .processes import open_at_once

KEYS_SCHEMA_0 = """
CREATE TABLE IF NOT EXISTS keys (
    id       TEXT PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,
    hint     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    models   TEXT,
    rpm      INTEGER,
    tpm      INTEGER,
    created  INTEGER NOT NULL,
    revoked  INTEGER
);
"""

T0 = 1_700_000_000
# id, secret, tenant, models, rpm, tpm, created, revoked
OLD_KEYS = [
    ("key_00000000000000a1", "pk-prov-" + "a" * 43, "acme", ["gpt-4o"], 10, None, T0, None),
    ("key_00000000000000b2", "pk-prov-" + "b" * 43, "acme", None, None, 5000, T0 + 100, None),
    ("key_00000000000000c3", "pk-prov-" + "c" * 43, "beta", ["bge-m3", "gpt-4o-mini"], None, None,
     T0 + 200, T0 + 300),
]  # fmt: skip


def _old_data_dir(d: Path) -> None:
    """keys.db as the release before versions wrote it (its _connect, then create)."""
    conn = sqlite3.connect(d / "keys.db", timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(KEYS_SCHEMA_0)
    for kid, secret, tenant, models, rpm, tpm, created, revoked in OLD_KEYS:
        conn.execute(
            "INSERT INTO keys (id, hash, hint, tenant, models, rpm, tpm, created, revoked)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kid, hash_key(secret), secret[:12] + "..." + secret[-4:], tenant,
             orjson.dumps(models).decode() if models else None, rpm, tpm, created, revoked),
        )  # fmt: skip
    conn.close()


def _keys_intact(store: KeyStore) -> None:
    listed = {r.id: r for r in store.list()}
    assert list(listed) == [k[0] for k in OLD_KEYS]
    cache = KeyCache(store)
    for kid, secret, tenant, models, rpm, tpm, created, revoked in OLD_KEYS:
        rec = listed[kid]
        assert (rec.tenant, rec.models, rec.rpm, rec.tpm, rec.created, rec.revoked) == (
            tenant, tuple(models) if models else None, rpm, tpm, created, revoked,
        )  # fmt: skip
        assert rec.hint == secret[:12] + "..." + secret[-4:]
        got = cache.lookup(secret.encode())
        assert (got.id if got else None) == (None if revoked else kid)


def test_an_old_data_dir_is_stamped_version_1_with_every_key_intact(tmp_path: Path) -> None:
    _old_data_dir(tmp_path)
    assert user_version(sqlite3.connect(tmp_path / "keys.db")) == 0
    store = KeyStore(tmp_path)
    assert user_version(store.conn) == 1 == MIGRATIONS.latest
    _keys_intact(store)
    assert migrate(store.conn, MIGRATIONS, "keys.db") == Migrated(1, 1)  # again: nothing
    _keys_intact(KeyStore(tmp_path))
    assert store.revoke("key_00000000000000a1")
    assert not store.revoke("key_00000000000000c3")  # revoked under the old release
    secret, rec = store.create("acme")
    cache = KeyCache(KeyStore(tmp_path))
    assert cache.lookup(secret.encode()) == rec
    assert cache.lookup(OLD_KEYS[0][1].encode()) is None
    assert cache.lookup(OLD_KEYS[1][1].encode()) is not None


def test_processes_opening_an_old_data_dir_at_once_migrate_it_once(tmp_path: Path) -> None:
    _old_data_dir(tmp_path)
    got = open_at_once("keys", tmp_path)
    assert got == [(0, 3), (1, 3), (1, 3), (1, 3)]
    _keys_intact(KeyStore(tmp_path))


def _with_step_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release whose keys schema has a step 2 (defined here: keys needs none yet)."""
    step: Step[SqliteApply] = Step(
        2, "keys by tenant", ddl("CREATE INDEX IF NOT EXISTS keys_by_tenant ON keys (tenant)")
    )
    monkeypatch.setattr(provocapi.keys, "MIGRATIONS", Migrations("keys", (*MIGRATIONS.steps, step)))


def test_a_later_step_applies_to_an_old_data_dir_and_older_code_then_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_data_dir(tmp_path)
    with monkeypatch.context() as m:
        _with_step_2(m)
        store = KeyStore(tmp_path)
        assert user_version(store.conn) == 2
        index = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'keys_by_tenant'"
        assert store.conn.execute(index).fetchone() == ("keys_by_tenant",)
        _keys_intact(store)
    with pytest.raises(SchemaTooNew, match=r"keys store at .*keys\.db has schema version 2"):
        KeyStore(tmp_path)  # this release knows version 1 only


def test_the_cli_and_serve_refuse_a_newer_keys_db_with_a_clear_error(tmp_path: Path) -> None:
    _old_data_dir(tmp_path)
    conn = sqlite3.connect(tmp_path / "keys.db")
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    for args in (["keys", "list"], ["serve", "--port", "1"]):
        out = subprocess.run(
            [sys.executable, "-m", "provocapi", *args, "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert "error: the keys store at" in out.stderr
        assert "schema version 9, but this provocapi knows versions up to 1" in out.stderr
        assert "Traceback" not in out.stderr
    assert user_version(sqlite3.connect(tmp_path / "keys.db")) == 9
