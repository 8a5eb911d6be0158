"""What `provocapi serve` asks of the simulator it starts for a `simulate = true` model."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Collection

import pytest
from provocapi import config, launcher
from provocapi.launcher import _sim_spec
from provocapi.netutil import free_ports
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


def test_a_simulator_that_cannot_bind_is_started_again_on_other_ports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port taken between the launcher's pick and the simulator's bind (another
    program's listener or outgoing connection) costs a retry, not the start."""
    text = "".join(
        f'[[models]]\nid = "m{i}"\nkind = "chat"\nfamily = "qwen2"\nsimulate = true\n'
        for i in range(2)
    )
    cfg = config.parse(text, "t.toml")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    picks: list[list[int]] = []

    def pick(n: int, host: str, avoid: Collection[int] = ()) -> list[int]:
        ports = free_ports(n, host, avoid)
        if not picks:
            ports[1] = busy  # the first pick loses its second port to someone else
        picks.append(ports)
        return ports

    monkeypatch.setattr(launcher, "free_ports", pick)
    try:
        started, supervisor = launcher.start_simulated(cfg, "127.0.0.1")
        assert supervisor is not None
        try:
            urls = [m.workers[0] for m in started.models]  # type: ignore[index]
            assert len(picks) == 2
            assert urls == [f"http://127.0.0.1:{p}" for p in picks[1]]
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            for url in urls:
                with direct.open(f"{url}/health", timeout=5) as r:
                    assert r.status == 200
        finally:
            supervisor.stop()
    finally:
        taken.close()
    assert "again on other ports (1)" in capsys.readouterr().out
