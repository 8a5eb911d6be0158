"""The shapes a LoRA must fit: built in for the catalogue's chat models,
overridable per model with `[models.architecture]`.

Values are the models' published `config.json`. head_dim is stated, never
derived: Mistral Small 3 has hidden 5,120 and 32 heads of 128, so its q_proj
maps 5,120 → 4,096.
"""

from __future__ import annotations

from .. import lora_files
from ..config import ArchitectureConfig, ModelConfig

BUILTIN: dict[str, ArchitectureConfig] = {
    "llama-3.1-8b-instruct": ArchitectureConfig(32, 4096, 14336, 32, 8, 128),
    "llama-3.1-70b-instruct": ArchitectureConfig(80, 8192, 28672, 64, 8, 128),
    "qwen-2.5-72b-instruct": ArchitectureConfig(80, 8192, 29568, 64, 8, 128),
    "mistral-small-3-24b": ArchitectureConfig(40, 5120, 32768, 32, 8, 128),
}


def of(model: ModelConfig) -> ArchitectureConfig | None:
    return model.architecture or BUILTIN.get(model.id)


def module_shapes(a: ArchitectureConfig) -> dict[str, tuple[int, int]]:
    """PEFT module name → (in features, out features) of the base weight it adapts."""
    return lora_files.module_shapes(a.hidden_size, a.intermediate_size, a.heads,
                                    a.kv_heads, a.head_dim)  # fmt: skip


def as_dict(a: ArchitectureConfig) -> dict[str, int]:
    """The simulator's `--architecture` JSON (lora_files.ARCHITECTURE_FIELDS)."""
    return {name: getattr(a, name) for name in lora_files.ARCHITECTURE_FIELDS}
