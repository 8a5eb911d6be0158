"""The import contract (.importlinter) places every module it layers.

`lint-imports` only constrains the modules a contract names; a module left out
would be free to import anything. So every child of a layered container (the
top-level modules of provocapi; those of admission, routing and usage) must
have a line, and the simulator's forbidden list must name every gateway
module: a new module has to choose its layer."""

from __future__ import annotations

import configparser
from pathlib import Path

import provocapi
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(provocapi.__file__).resolve().parent


def _contract() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    assert parser.read(ROOT / ".importlinter"), "the import contract file is missing"
    return parser


def _children(container: str) -> set[str]:
    folder = PACKAGE.joinpath(*container.split(".")[1:])
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in folder.glob("*/__init__.py")}
    return names


def _layered(section: configparser.SectionProxy) -> set[str]:
    lines = section["layers"].split("\n")
    return {name.strip() for line in lines for name in line.replace(":", "|").split("|")} - {""}


def _layer_contracts() -> list[tuple[str, configparser.SectionProxy]]:
    parser = _contract()
    found = []
    for name in parser.sections():
        section = parser[name]
        if section.get("type") == "layers":
            (container,) = section["containers"].split()
            found.append((container, section))
    return found


def test_the_contract_layers_the_package_and_its_subsystems() -> None:
    containers = {c for c, _ in _layer_contracts()}
    assert {
        "provocapi",
        "provocapi.admission",
        "provocapi.routing",
        "provocapi.usage",
    } <= containers


@pytest.mark.parametrize("container", [c for c, _ in _layer_contracts()])
def test_every_module_has_a_layer(container: str) -> None:
    section = dict(_layer_contracts())[container]
    missing = _children(container) - _layered(section)
    gone = _layered(section) - _children(container)
    assert not missing, f"place these in .importlinter's layers of {container}: {sorted(missing)}"
    assert not gone, f"remove these from .importlinter's layers of {container}: {sorted(gone)}"


def test_the_simulator_may_use_only_the_shared_leaves() -> None:
    forbidden = _contract()["importlinter:contract:simulator"]["forbidden_modules"].split()
    named = {m.removeprefix("provocapi.") for m in forbidden}
    # parent_death: an OS helper (the simulator serve starts ends with serve), no gateway
    allowed = {"sim", "vocab", "trtllm_protocol", "netutil", "lora_files", "parent_death"}
    missing = _children("provocapi") - allowed - named
    assert not missing, f"forbid these to the simulator in .importlinter: {sorted(missing)}"
