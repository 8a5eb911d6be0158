"""`provocapi serve` flags out of range: exit 2 naming the flag, before anything starts
(a port past 65535 was a Granian traceback, 0 silently meant 8080, --workers 0 ran)."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.procs import run_cli


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--port", "70000"), ("--port", "0"), ("--port", "-5"), ("--workers", "0"),
     ("--workers", "-1")],
)  # fmt: skip
def test_an_out_of_range_flag_is_refused(tmp_path: Path, flag: str, value: str) -> None:
    res = run_cli("serve", flag, value, "--data-dir", str(tmp_path / "data"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"argument {flag}: '{value}' is not" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made
