"""The key CLI on its own data dir (no gateway needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from harness.procs import create_key, run_cli


def test_keys_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = run_cli(
        "keys", "create", "--tenant", "cli-t", "--models", "bge-m3", "--rpm", "60",
        "--tpm", "10000", "--data-dir", str(data),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    key = res.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"pk-prov-[A-Za-z0-9_-]{32,}", key), res.stdout
    other = create_key(data, "cli-u")
    assert other != key
    listing = run_cli("keys", "list", "--data-dir", str(data))
    assert listing.returncode == 0
    assert "cli-t" in listing.stdout and "cli-u" in listing.stdout
    assert key[8:20] not in listing.stdout and other[8:20] not in listing.stdout
    bad = run_cli("keys", "revoke", "key_does_not_exist", "--data-dir", str(data))
    assert bad.returncode != 0
    assert run_cli("keys", "create", "--data-dir", str(data)).returncode != 0  # no --tenant


def test_keys_cli_refuses_what_it_would_get_wrong(tmp_path: Path) -> None:
    """An empty tenant made a key for tenant ''; list and revoke on a mistyped
    --data-dir made that folder and its keys.db, and listed nothing."""
    data = tmp_path / "data"
    empty = run_cli("keys", "create", "--tenant", " ", "--data-dir", str(data))
    assert empty.returncode == 2 and "--tenant must not be empty" in empty.stderr
    for cmd in (("keys", "list"), ("keys", "revoke", "key_x")):
        res = run_cli(*cmd, "--data-dir", str(tmp_path / "typo"))
        assert res.returncode == 2 and "no data dir" in res.stderr, res.stderr
    assert not (tmp_path / "typo").exists()


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "provocapi"
    assert script.exists(), f"no console script at {script}"
    res = subprocess.run(
        [str(script), "keys", "list", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
