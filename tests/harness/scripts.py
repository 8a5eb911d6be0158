"""Loading a script of the repository (bench/, scripts/) as a module, for tests of its parts.
The scripts are not a package: each is loaded from its file under a name of its own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script(relative: str, name: str) -> ModuleType:
    """`relative` (to the repository's root, e.g. "bench/rounds.py") as module `name`,
    registered in sys.modules (a dataclass in it looks its module up there)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
