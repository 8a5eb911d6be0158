"""The fault matrix (matrix.py) is the one list of faults: each row names tests that
exist, every fault test here is in a row, and docs/faults.md shows every row."""

from __future__ import annotations

import ast
from pathlib import Path

from .matrix import MATRIX

ROOT = Path(__file__).resolve().parents[2]


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_row_names_tests_that_exist() -> None:
    missing = []
    for case in MATRIX:
        assert case.tests, case.name
        for ref in case.tests:
            file, _, name = ref.partition("::")
            path = ROOT / file
            if not path.is_file() or name not in functions(path):
                missing.append(f"{case.name}: {ref}")
    assert missing == []


def test_every_fault_test_is_in_the_matrix() -> None:
    listed = {ref for case in MATRIX for ref in case.tests}
    here = Path(__file__).parent
    unlisted = [
        f"tests/faults/{path.name}::{name}"
        for path in sorted(here.glob("test_*_faults.py"))
        for name in sorted(functions(path))
        if name.startswith("test_") and f"tests/faults/{path.name}::{name}" not in listed
    ]
    assert unlisted == []


def test_the_doc_shows_every_row() -> None:
    doc = (ROOT / "docs" / "faults.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    for case in MATRIX:
        (row,) = [r for r in rows if r.startswith(f"| {case.name} |")]
        for ref in case.tests:
            assert ref.rpartition("::")[2] in row, (case.name, ref)
    assert len(rows) == len(MATRIX) + 1  # the header, then one row a case
