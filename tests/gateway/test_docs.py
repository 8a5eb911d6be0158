"""The config reference's TOML examples load through the real config loader (a broken
example costs users an afternoon).

A complete example (one with `[[models]]`) is parsed as it stands. A fragment (a few
`[section]`s alone) is parsed in context: followed by the embedded default's
`[[models]]` catalogue, the smallest valid config that the fragments' model ids
(tiers, aliases) can refer to.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from provocapi.config import ConfigError, default_config_text, parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"
BLOCK = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)


def _examples() -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def _catalogue() -> str:
    """The embedded default's [[models]] tables (its [server] left out: a fragment
    may set its own)."""
    text = default_config_text()
    return text[text.index("[[models]]") :]


def load_example(block: str, source: str) -> None:
    """Parse one example as a user's file; ConfigError if the loader refuses it."""
    complete = "models" in tomllib.loads(block)
    parse(block if complete else f"{block}\n{_catalogue()}", source)


def test_the_config_reference_has_toml_examples() -> None:
    assert _examples(), "docs/config.md has TOML examples"


@pytest.mark.parametrize(
    "block", [pytest.param(block, id=f"line-{line}") for line, block in _examples()]
)
def test_every_toml_example_loads(block: str, request: pytest.FixtureRequest) -> None:
    load_example(block, f"docs/config.md, example at {request.node.callspec.id}")


@pytest.mark.parametrize(
    "bad",
    [
        '[usage]\nflusher = "sometimes"\n',  # not one of the choices
        "[server]\nnot_a_field = 1\n",  # unknown fields are refused
        '[tiers.pro.models."no-such-model"]\nrpm = 5\n',  # a model the catalogue lacks
    ],
    ids=["bad-choice", "unknown-field", "unknown-model"],
)
def test_an_example_the_loader_refuses_fails(bad: str) -> None:
    with pytest.raises(ConfigError):
        load_example(bad, "bad example")
