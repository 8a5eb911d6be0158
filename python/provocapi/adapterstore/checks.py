"""Whether an adapter's files can be served by a model's workers.

Everything TensorRT-LLM's LoRA would fail on, or silently serve wrong, is
refused here with a message naming the problem: the config's PEFT type, DoRA,
`modules_to_save`, rank and target modules against the workers' `lora_config`,
then every tensor's dtype and shape against the base model's architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ModelConfig
from ..lora_files import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    AdapterFileError,
    lora_tensors,
    read_config,
    read_header,
)
from . import architecture


@dataclass(frozen=True, slots=True)
class CheckedAdapter:
    rank: int
    target_modules: tuple[str, ...]


def base_model_error(model: ModelConfig) -> str | None:
    """Why no adapter can be made for this model (None: adapters are possible)."""
    if model.kind != "chat":
        return f"'{model.id}' is an embedding model: LoRA adapters are for chat models"
    if architecture.of(model) is None:
        return (
            f"'{model.id}' has no known architecture: set [models.architecture] for it "
            "to accept adapters"
        )
    return None


def check(folder: Path, model: ModelConfig) -> CheckedAdapter:
    """Raises AdapterFileError naming what is wrong."""
    cfg = read_config(folder / CONFIG_FILE)
    rank, modules = _check_config(cfg, model)
    tensors = lora_tensors(read_header(folder / WEIGHTS_FILE))
    arch = architecture.of(model)
    assert arch is not None  # base_model_error ran first
    shapes = architecture.module_shapes(arch)
    seen: set[str] = set()
    for t in tensors:
        if t.module not in modules:
            raise AdapterFileError(
                f"{WEIGHTS_FILE}: tensor {t.tensor.name!r} adapts {t.module}, which is not in "
                f"{CONFIG_FILE}'s target_modules"
            )
        if t.tensor.dtype not in model.lora.dtypes:
            raise AdapterFileError(
                f"{WEIGHTS_FILE}: tensor {t.tensor.name!r} is {t.tensor.dtype}; "
                f"{model.id} takes {', '.join(model.lora.dtypes)}"
            )
        if t.layer >= arch.layers:
            raise AdapterFileError(
                f"{WEIGHTS_FILE}: tensor {t.tensor.name!r} is for layer {t.layer}, "
                f"{model.id} has {arch.layers} layers"
            )
        d_in, d_out = shapes[t.module]
        want = (rank, d_in) if t.half == "A" else (d_out, rank)
        if t.tensor.shape != want:
            raise AdapterFileError(
                f"{WEIGHTS_FILE}: tensor {t.tensor.name!r} has shape {list(t.tensor.shape)}, "
                f"{model.id} at rank {rank} needs {list(want)}"
            )
        seen.add(t.module)
    missing = sorted(set(modules) - seen)
    if missing:
        raise AdapterFileError(f"{WEIGHTS_FILE} has no weights for target modules {missing}")
    return CheckedAdapter(rank, tuple(sorted(modules)))


def _check_config(cfg: dict[str, Any], model: ModelConfig) -> tuple[int, list[str]]:
    if cfg.get("peft_type", "LORA") != "LORA":
        raise AdapterFileError(f"{CONFIG_FILE}: peft_type {cfg.get('peft_type')!r} is not LORA")
    if cfg.get("use_dora"):
        raise AdapterFileError(f"{CONFIG_FILE}: use_dora: DoRA adapters cannot be served")
    if cfg.get("modules_to_save"):
        raise AdapterFileError(
            f"{CONFIG_FILE}: modules_to_save: fully trained modules cannot be served"
        )
    for key in ("rank_pattern", "alpha_pattern"):
        if cfg.get(key):
            raise AdapterFileError(f"{CONFIG_FILE}: {key} (a rank or alpha per module) is refused")
    rank = cfg.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise AdapterFileError(f"{CONFIG_FILE}: r must be a positive integer")
    if rank > model.lora.max_rank:
        raise AdapterFileError(
            f"{CONFIG_FILE}: rank {rank} is above {model.id}'s maximum of {model.lora.max_rank}"
        )
    alpha = cfg.get("lora_alpha", 8)
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or alpha <= 0:
        raise AdapterFileError(f"{CONFIG_FILE}: lora_alpha must be a positive number")
    modules = cfg.get("target_modules")
    if isinstance(modules, str):
        raise AdapterFileError(f"{CONFIG_FILE}: target_modules must be a list of module names")
    if not (isinstance(modules, list) and modules and all(isinstance(m, str) for m in modules)):
        raise AdapterFileError(f"{CONFIG_FILE}: target_modules must be a list of module names")
    outside = sorted(set(modules) - set(model.lora.target_modules))
    if outside:
        raise AdapterFileError(
            f"{CONFIG_FILE}: target modules {outside} are outside what {model.id}'s workers "
            f"serve ({', '.join(model.lora.target_modules)})"
        )
    return rank, list(modules)
