"""Bearer credentials: parsed once, compared as bytes in constant time, never raising."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from provocapi.credentials import MAX_CREDENTIAL_BYTES, bearer, is_admin_key
from provocapi.keys import KeyCache, KeyStore

ADMIN = "s3cret-admin"


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        (b"Bearer abc", b"abc"),
        (b"bearer   abc  ", b"abc"),
        (b"BEARER abc", b"abc"),
        (b"Basic abc", None),
        (b"Bearer", b""),
        (b"", None),
        (None, None),
        (b"Bearer " + b"a" * MAX_CREDENTIAL_BYTES, b"a" * MAX_CREDENTIAL_BYTES),
        (b"Bearer " + b"a" * (MAX_CREDENTIAL_BYTES + 1), None),
        (b"Bearer \xc3\xa9\xff", b"\xc3\xa9\xff"),
    ],
)
def test_bearer(header: bytes | None, secret: bytes | None) -> None:
    assert bearer(header) == secret


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ädmin".encode(),
        b"Bearer \xff\xfe",
        b"Bearer s3cret-admin\x00",
        b"Bearer s3cret-admi",
        b"Basic s3cret-admin",
        b"Bearer " + b"s" * 100_000,
        None,
    ],
)
def test_wrong_admin_keys_are_false_never_an_error(header: bytes | None) -> None:
    assert is_admin_key(header, ADMIN) is False


def test_the_admin_key_matches_in_any_characters() -> None:
    assert is_admin_key(b"Bearer s3cret-admin", ADMIN)
    assert is_admin_key(b"bearer  s3cret-admin ", ADMIN)
    assert is_admin_key("Bearer clé-ключ".encode(), "clé-ключ")
    # an environment variable's undecodable bytes come back as they were sent
    undecodable = os.fsdecode(b"k\xff\xfe")
    assert is_admin_key(b"Bearer k\xff\xfe", undecodable)
    assert not is_admin_key(b"Bearer k??", undecodable)
    long_key = "L" * 1000  # an operator may choose a key past the tenant-key limit
    assert is_admin_key(b"Bearer " + long_key.encode(), long_key)
    assert not is_admin_key(b"Bearer s3cret-admin", None)
    assert not is_admin_key(b"Bearer s3cret-admin", "")


def test_wrong_keys_leave_nothing_in_the_cache(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    secret, _ = store.create("acme")
    cache = KeyCache(KeyStore(tmp_path))
    assert cache.lookup(secret.encode()) is not None
    assert cache.remembered() == 1

    def wrong(i: int) -> bytes:
        return b"pk-prov-%043d" % i  # the shape of a key: hashed, then forgotten

    for i in range(1000):  # warm up the allocator
        assert cache.lookup(wrong(i)) is None
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000, 21_000):
            assert cache.lookup(wrong(i)) is None
            assert cache.lookup(b"%08d" % i + b"x" * 4096) is None  # too long to hash
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.remembered() == 1
    assert grown < 64 * 1024, f"{grown} bytes kept after 40,000 wrong keys"
    assert cache.lookup(secret.encode()) is not None
