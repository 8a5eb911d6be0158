"""The import contract (.importlinter) places every top-level module of provocapi.

`lint-imports` only constrains the modules a contract names; a new module left
out would be free to import anything. This test makes a new module choose its
layer (and the simulator's forbidden list name it)."""

from __future__ import annotations

import configparser
from pathlib import Path

import provocapi

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(provocapi.__file__).resolve().parent


def _contract() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    assert parser.read(ROOT / ".importlinter"), "the import contract file is missing"
    return parser


def _top_level_modules() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return names


def _layered(contract: configparser.ConfigParser) -> set[str]:
    lines = contract["importlinter:contract:layers"]["layers"].split("\n")
    return {name.strip() for line in lines for name in line.replace(":", "|").split("|")} - {""}


def test_every_module_has_a_layer() -> None:
    missing = _top_level_modules() - _layered(_contract())
    assert not missing, f"place these modules in .importlinter's layers: {sorted(missing)}"


def test_the_layers_name_no_module_that_is_gone() -> None:
    gone = _layered(_contract()) - _top_level_modules()
    assert not gone, f"remove these from .importlinter's layers: {sorted(gone)}"


def test_the_simulator_may_use_only_the_shared_leaves() -> None:
    forbidden = _contract()["importlinter:contract:simulator"]["forbidden_modules"].split()
    named = {m.removeprefix("provocapi.") for m in forbidden}
    allowed = {"sim", "vocab", "trtllm_protocol"}
    missing = _top_level_modules() - allowed - named
    assert not missing, f"forbid these to the simulator in .importlinter: {sorted(missing)}"
