"""Every script in bench/ still imports: they run outside the test command (they are
slow), so a helper moved or renamed elsewhere would otherwise break them unseen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# sidebyside_chart needs matplotlib, which sidebyside.py installs into .cache on first use
# (a session tool, not a project dependency)
NEEDS_TOOLS = {"sidebyside_chart"}
SCRIPTS = sorted(
    p.stem
    for p in BENCH.glob("*.py")
    if not p.name.startswith("test_") and p.stem not in NEEDS_TOOLS
)


def test_there_are_scripts() -> None:
    assert "floor" in SCRIPTS and "looplag" in SCRIPTS, SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_bench_script_imports(name: str) -> None:
    # a fresh interpreter in bench/, as `python bench/NAME.py` would import it
    code = f"import sys; sys.argv = ['{name}']; import {name}"
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=BENCH, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
