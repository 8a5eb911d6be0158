"""The docs that describe the tree and the environment stay true as the code moves.

- docs/config.md, "Environment variables", lists every environment variable the
  package or the Rust core reads (or names as a constant);
- README.md's Layout lists every top-level module and package of provocapi, and
  nothing that is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "provocapi"
RUST = ROOT / "rust" / "src"

# a PROVOCAPI_* name anywhere in code, and any name read through the usual calls
PROVOCAPI_NAME = re.compile(r"\bPROVOCAPI_[A-Z0-9_]+\b")
READ_LITERAL = re.compile(
    r"""(?:environ\.get\(|environ\[|getenv\(|env::var\(|env::var_os\()\s*["']([A-Za-z_][A-Za-z0-9_]*)["']"""
)


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py")) + sorted(RUST.rglob("*.rs"))


def _names_in_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for name in PROVOCAPI_NAME.findall(text) + READ_LITERAL.findall(text):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _documented() -> set[str]:
    table = _section(
        (ROOT / "docs" / "config.md").read_text(encoding="utf-8"), "Environment variables"
    )
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {row.split("`")[1] for row in rows}


def test_the_scan_finds_the_variables_we_know() -> None:
    found = _names_in_code()
    # one read in Python, one constant, one read by the Rust core: the scan covers all three
    assert {"PROVOCAPI_ADMIN_KEY", "PROVOCAPI_USAGE_FLUSHER", "PROVOCAPI_TOKEN_CACHE"} <= set(found)


def test_every_environment_variable_is_documented() -> None:
    found = _names_in_code()
    missing = {name: where for name, where in found.items() if name not in _documented()}
    assert not missing, f"add to docs/config.md, 'Environment variables': {missing}"


def test_the_table_lists_no_variable_the_code_does_not_know() -> None:
    stale = _documented() - set(_names_in_code())
    assert not stale, f"no longer in the code: {sorted(stale)}"


def _tree() -> set[str]:
    names = {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    names |= {p.parent.name + "/" for p in PACKAGE.glob("*/__init__.py")}
    names |= {p.name for p in PACKAGE.glob("*.pyi")}
    return names


def _layout() -> set[str]:
    block = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Layout")
    code = block.split("```")[1]
    lines = code.splitlines()
    start = next(i for i, line in enumerate(lines) if "python/provocapi/" in line)
    names: set[str] = set()
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break  # back at the top level: tests/, bench/, ...
        entry = line.strip().split(" ", 1)[0]
        if entry.endswith((".py", ".pyi", "/")):
            names.add(entry)
    return names


def test_the_readme_layout_lists_every_module() -> None:
    missing = _tree() - _layout()
    assert not missing, f"add to README.md's Layout: {sorted(missing)}"


def test_the_readme_layout_lists_nothing_that_is_gone() -> None:
    gone = _layout() - _tree()
    assert not gone, f"remove from README.md's Layout: {sorted(gone)}"
