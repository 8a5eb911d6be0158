"""--architecture: the simulator refuses a lora_path whose tensors do not fit the model
it serves (layers, and each module's in/out features at the adapter's rank), as a
worker's LoRA load fails; without it only the files' structure is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from provocapi.config import ArchitectureConfig
from provocapi.lora_files import ARCHITECTURE_FIELDS, write_zero_adapter
from provocapi.sim.cli import configs

from .client import get, post

# q: 4 heads x 16 = 64, kv: 2 x 16 = 32; hidden 48 so q_proj is 48 -> 64 (not square)
ARCH = {"layers": 2, "hidden_size": 48, "intermediate_size": 96, "heads": 4, "kv_heads": 2,
        "head_dim": 16}  # fmt: skip
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _adapter(tmp_path: Path, name: str, modules: dict[str, tuple[int, int]], layers: int) -> str:
    write_zero_adapter(tmp_path / name, modules, rank=4, layers=layers)
    return str(tmp_path / name)


def _call(path: str, lid: int) -> dict[str, object]:
    return {**CHAT, "lora_request": {"lora_name": "a", "lora_int_id": lid, "lora_path": path}}


def test_the_fields_are_the_configs() -> None:
    assert ARCHITECTURE_FIELDS == ArchitectureConfig.__struct_fields__


async def test_adapters_must_fit_the_architecture(fresh_sim, tmp_path: Path) -> None:
    s = await fresh_sim("--model", "m", "--architecture", json.dumps(ARCH))
    fits = _adapter(tmp_path, "fits", {"q_proj": (48, 64), "v_proj": (48, 32),
                                       "down_proj": (96, 48)}, layers=2)  # fmt: skip
    assert (await post(s.port, "/v1/chat/completions", _call(fits, 1))).status == 200
    # hidden ÷ heads would say head_dim 12, so q_proj 48 -> 48: refused
    derived = _adapter(tmp_path, "derived", {"q_proj": (48, 48)}, layers=2)
    wide_kv = _adapter(tmp_path, "wide", {"v_proj": (48, 64)}, layers=2)
    deep = _adapter(tmp_path, "deep", {"q_proj": (48, 64)}, layers=3)
    cases = [(derived, "needs [64, 4]"), (wide_kv, "needs [32, 4]"), (deep, "layer 2")]
    for n, (path, needle) in enumerate(cases, start=2):
        r = await post(s.port, "/v1/chat/completions", _call(path, n))
        assert r.status == 400, r.body
        assert needle in r.json()["message"] and "cannot be loaded" in r.json()["message"]
    stats = (await get(s.port, "/sim/stats")).json()
    assert list(stats["loras"]) == ["1"]  # the refused ones never ran
    assert stats["served"] == 1


async def test_without_it_only_the_structure_is_checked(fresh_sim, tmp_path: Path) -> None:
    s = await fresh_sim("--model", "m")
    misfit = _adapter(tmp_path, "misfit", {"q_proj": (48, 48)}, layers=9)
    assert (await post(s.port, "/v1/chat/completions", _call(misfit, 1))).status == 200


@pytest.mark.parametrize(
    "raw", ["not json", json.dumps({**ARCH, "extra": 1}), json.dumps({**ARCH, "layers": 0})]
)
def test_a_bad_architecture_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="--architecture"):
        configs(["--model", "m", "--port", "1", "--architecture", raw])
