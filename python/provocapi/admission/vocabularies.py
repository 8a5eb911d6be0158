"""Loading each model's tokenizer once per process.

Which file a `tokenizer` value names lives in the neutral `provocapi.vocab`
(the config loader and the simulator use it too); this module only loads the
files for admission's counting. A model left without a tokenizer (an embedding
model, `"none"`) is counted with the estimate.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._core import Tokenizer
from ..config import ModelConfig
from ..vocab import source, spec_for

_loaded: dict[tuple[str, str], Tokenizer] = {}


def spec_of(model: ModelConfig) -> str | None:
    return spec_for(model.tokenizer, model.family)


def load(model: ModelConfig) -> Tokenizer | None:
    """The model's tokenizer, or None when it has none (counted with the estimate)."""
    spec = spec_of(model)
    if spec is None:
        return None
    src = source(spec)
    if src is None:
        return None
    key = (str(src[0]), src[1])
    tok = _loaded.get(key)
    if tok is None:
        tok = _loaded[key] = Tokenizer(str(src[0]), src[1])
    return tok


def preload(models: Iterable[ModelConfig]) -> int:
    """Load every model's tokenizer now; how many distinct files are loaded.

    `provocapi serve` calls it before Granian forks its workers: the tables then sit in
    pages the workers share copy-on-write (read-only afterwards), instead of one copy
    built per worker."""
    for m in models:
        load(m)
    return len(_loaded)
