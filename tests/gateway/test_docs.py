"""The config reference's TOML examples load (a broken example costs users an afternoon)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_every_toml_example_in_the_config_reference_parses() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/config.md has TOML examples"
    for block in blocks:
        tomllib.loads(block)
