"""What docs/security.md says about secrets on disk holds: keys are stored as SHA-256
only, and the effective config (which carries the config's secrets) is private."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from provocapi import config
from provocapi.keys import KeyStore


def test_keys_db_holds_the_hash_of_a_key_never_the_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    secret, _ = store.create("acme")
    store.conn.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in on_disk
    assert secret.encode() not in on_disk
    assert secret[8:].encode() not in on_disk  # nor its random part


def test_the_effective_config_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "effective-config.json"
    path.write_text("{}")
    path.chmod(0o644)  # left over from an older version
    text = config.default_config_text().replace("[server]\n", '[server]\nadmin_key = "s3cret"\n')
    cfg = config.parse(text)
    assert cfg.server.admin_key == "s3cret"
    config.write_private(path, cfg)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.from_json(path.read_bytes()) == cfg
