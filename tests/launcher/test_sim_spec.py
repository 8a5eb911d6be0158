"""What `provocapi serve` asks of the simulator it starts for a `simulate = true` model."""

from __future__ import annotations

from provocapi import config
from provocapi.launcher import _sim_spec
from provocapi.sim.cli import configs
from provocapi.sim.config import entry_argv


def _model(extra: str = "") -> config.ModelConfig:
    text = f'[[models]]\nid = "m"\nkind = "chat"\nfamily = "qwen2"\nsimulate = true\n{extra}'
    return config.parse(text, "t.toml").models[0]


def test_batch_priority_starts_a_worker_that_knows_the_field() -> None:
    assert "priority" not in _sim_spec(_model(), 9001)
    spec = _sim_spec(_model("batch_priority = 0.2\n"), 9001)
    assert spec["priority"] is True and "--priority" in entry_argv(spec)
    assert configs(entry_argv(spec))[0].priority


def test_a_simulated_catalogue_model_knows_its_architecture() -> None:
    text = (
        '[[models]]\nid = "mistral-small-3-24b"\nkind = "chat"\nfamily = "mistral"\n'
        "simulate = true\n"
    )
    spec = _sim_spec(config.parse(text, "t.toml").models[0], 9001)
    sim = configs(entry_argv(spec))[0]
    assert sim.architecture is not None and sim.architecture["head_dim"] == 128
    assert sim.architecture["hidden_size"] == 5120 and sim.architecture["heads"] == 32
    # a model without a known architecture: nothing to check against
    assert "architecture" not in _sim_spec(_model(), 9001)
