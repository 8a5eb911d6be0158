"""Adapter files for the tests, written here (header + zeros; no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provocapi.lora_files import CONFIG_FILE, WEIGHTS_FILE, write_zero_adapter

# (hidden, q out, kv out, intermediate, layers) of the catalogue's chat models
ARCH = {
    "llama-3.1-8b-instruct": (4096, 4096, 1024, 14336, 32),
    "llama-3.1-70b-instruct": (8192, 8192, 1024, 28672, 80),
    "qwen-2.5-72b-instruct": (8192, 8192, 1024, 29568, 80),
    "mistral-small-3-24b": (5120, 4096, 1024, 32768, 40),
}


def modules(
    model: str, names: tuple[str, ...] = ("q_proj", "v_proj")
) -> dict[str, tuple[int, int]]:
    hidden, q, kv, inter, _ = ARCH[model]
    shapes = {
        "q_proj": (hidden, q), "k_proj": (hidden, kv), "v_proj": (hidden, kv),
        "o_proj": (q, hidden), "gate_proj": (hidden, inter), "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
    }  # fmt: skip
    return {n: shapes[n] for n in names}


def adapter(
    folder: Path,
    mods: dict[str, tuple[int, int]],
    *,
    rank: int = 2,
    layers: int = 1,
    dtype: str = "BF16",
    config: dict[str, Any] | None = None,
) -> tuple[bytes, bytes]:
    """(adapter_config.json, adapter_model.safetensors) bytes; `config` overrides keys."""
    write_zero_adapter(folder, mods, rank=rank, layers=layers, dtype=dtype)
    cfg = json.loads((folder / CONFIG_FILE).read_text())
    cfg.update(config or {})
    return json.dumps(cfg).encode(), (folder / WEIGHTS_FILE).read_bytes()
