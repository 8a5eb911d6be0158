"""Keys (hashed, revocable, picked up live) and model resolution per tenant."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from harness.procs import run_cli
from provocapi import config
from provocapi.adapters import ConfigAdapters
from provocapi.catalog import Catalog
from provocapi.errors import ApiError
from provocapi.gateway import Gateway
from provocapi.handlers.models import _adapter_objs
from provocapi.keys import MISS_CHECK_S, KeyCache, KeyStore, hash_key


def test_keys_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    cache = KeyCache(KeyStore(tmp_path))  # another connection, as in the server
    secret, rec = store.create("acme", ["gpt-4o"], rpm=10, tpm=None)
    assert re.fullmatch(r"pk-prov-[A-Za-z0-9_\-]{32,}", secret)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))  # db + WAL
    assert secret.encode() not in raw
    assert hash_key(secret).encode() in raw
    got = cache.lookup(secret.encode())  # found at once: a miss checks for a change
    assert got is not None and got.tenant == "acme" and got.models == ("gpt-4o",)
    assert got.rpm == 10
    assert not cache.refresh()  # nothing changed since that miss's reload
    assert store.revoke(rec.id)
    assert not store.revoke(rec.id)
    assert cache.refresh()
    assert cache.lookup(secret.encode()) is None
    assert cache.lookup(b"not-a-key") is None


def test_a_new_key_works_at_once_and_wrong_keys_stay_cheap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore(tmp_path)
    cache = KeyCache(KeyStore(tmp_path))
    checks = 0
    version = cache.store.data_version

    def counted() -> int:
        nonlocal checks
        checks += 1
        return version()

    monkeypatch.setattr(cache.store, "data_version", counted)
    for _ in range(3):  # `keys create`, then the first call with no pause (the CLI's case)
        secret, rec = store.create("acme", None, rpm=None, tpm=None)
        got = cache.lookup(secret.encode())
        assert got is not None and got.id == rec.id
        time.sleep(0.02)
    checks = 0
    started = time.monotonic()
    for i in range(2_000):  # a flood of wrong but well-formed keys
        assert cache.lookup(b"pk-prov-wrong" + str(i).encode()) is None
    elapsed = time.monotonic() - started
    assert checks <= elapsed / MISS_CHECK_S + 1, (checks, elapsed)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("keys", *args, "--data-dir", str(tmp_path), timeout_s=60)


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    out = _cli(tmp_path, "create", "--tenant", "acme", "--models", "gpt-4o,bge-m3")
    assert out.returncode == 0, out.stderr
    secret = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"pk-prov-[A-Za-z0-9_\-]{32,}", secret)
    listed = _cli(tmp_path, "list")
    assert secret not in listed.stdout and secret[8:] not in listed.stdout
    key_id = re.search(r"(key_[0-9a-f]+)", listed.stdout)
    assert key_id and "active" in listed.stdout
    assert _cli(tmp_path, "revoke", key_id.group(1)).returncode == 0
    assert "revoked" in _cli(tmp_path, "list").stdout
    assert _cli(tmp_path, "revoke", "key_nope").returncode == 1
    assert _cli(tmp_path, "create", "--tenant", "t", "--rpm", "0").returncode == 2
    rows = sqlite3.connect(tmp_path / "keys.db").execute("SELECT hash FROM keys").fetchall()
    assert rows[0][0] == hash_key(secret)


CFG_TEXT = """
[tenants.small]
models = ["gpt-4o-mini", "bge-m3"]

[[models]]
id = "llama-3.1-8b-instruct"
kind = "chat"
aliases = ["gpt-4o-mini"]
workers = ["http://w1"]
[[models.adapters]]
name = "sql"
lora_path = "/l/sql"
lora_int_id = 3

[[models]]
id = "llama-3.1-70b-instruct"
kind = "chat"
aliases = ["gpt-4o"]
workers = ["http://w2"]

[[models]]
id = "bge-m3"
kind = "embedding"
dimensions = 1024
workers = ["http://w3"]
"""
CFG = config.parse(CFG_TEXT)


def _key(tmp_path: Path, tenant: str, models: list[str] | None = None):  # type: ignore[no-untyped-def]
    return KeyStore(tmp_path).create(tenant, models)[1]


def test_canonical_names_the_model_id_behind_an_alias() -> None:
    cat = Catalog(CFG, ConfigAdapters(CFG))
    assert cat.canonical("gpt-4o-mini") == "llama-3.1-8b-instruct"
    assert cat.canonical("llama-3.1-8b-instruct") == "llama-3.1-8b-instruct"
    assert cat.canonical("gpt-4o-mini:sql") == "llama-3.1-8b-instruct:sql"
    assert cat.canonical("nope") == "nope" and cat.canonical("nope:x") == "nope:x"


def test_resolution_aliases_adapters_and_allowlists(tmp_path: Path) -> None:
    cat = Catalog(CFG, ConfigAdapters(CFG))
    anyone = _key(tmp_path, "newcomer")  # not in the config: every model
    small = _key(tmp_path, "small")
    narrowed = _key(tmp_path, "newcomer", ["gpt-4o"])

    r = cat.resolve("gpt-4o-mini", anyone)
    assert r.model.id == "llama-3.1-8b-instruct" and r.adapter is None
    r = cat.resolve("gpt-4o-mini:sql", small)
    assert r.adapter is not None and r.adapter.lora_int_id == 3
    assert r.public_id == "llama-3.1-8b-instruct:sql"
    with pytest.raises(ApiError) as exc:
        cat.resolve("llama-3.1-8b-instruct:nope", anyone)
    assert exc.value.status == 404 and exc.value.code == "adapter_not_found"
    for name, key in (("gpt-4o", small), ("nope", anyone), ("gpt-4o-mini", narrowed)):
        with pytest.raises(ApiError) as exc:
            cat.resolve(name, key)
        assert exc.value.status == 404 and exc.value.code == "model_not_found"
        assert exc.value.param == "model"
    assert cat.resolve("llama-3.1-70b-instruct", narrowed).model.id == "llama-3.1-70b-instruct"
    assert [n for n, _ in cat.visible_names(small)] == [
        "llama-3.1-8b-instruct",
        "gpt-4o-mini",
        "bge-m3",
    ]
    assert [n for n, _ in cat.visible_names(narrowed)] == ["llama-3.1-70b-instruct", "gpt-4o"]


async def test_model_list_follows_reloaded_operator_adapters(tmp_path: Path) -> None:
    """GET /v1/models lists the operator adapters of the config in force, also after a reload."""
    data = tmp_path / "data"
    data.mkdir()
    gw = Gateway(CFG, data, str(tmp_path / "state.bin"))
    small = _key(data, "small")
    try:
        assert [a["id"] for a in _adapter_objs(gw, small)] == ["llama-3.1-8b-instruct:sql"]
        ner = '[[models.adapters]]\nname = "ner"\nlora_path = "/l/ner"\nlora_int_id = 4\n'
        gw.apply_config(
            config.parse(CFG_TEXT.replace("lora_int_id = 3\n", f"lora_int_id = 3\n{ner}"))
        )
        assert sorted(a["id"] for a in _adapter_objs(gw, small)) == [
            "llama-3.1-8b-instruct:ner",
            "llama-3.1-8b-instruct:sql",
        ]
    finally:
        await gw.close()
