"""Tokenizers loaded before the fork: `preload` fills the per-process table that each
worker's Counter then reads, so a forked worker shares the launcher's tables."""

from __future__ import annotations

import textwrap

from provocapi.admission import vocabularies
from provocapi.admission.counting import Counter
from provocapi.config import parse

CONFIG = textwrap.dedent(
    """\
    [[models]]
    id = "a"
    kind = "chat"
    family = "llama3"
    workers = ["http://127.0.0.1:9"]

    [[models]]
    id = "b"
    kind = "chat"
    family = "llama3"
    workers = ["http://127.0.0.1:9"]

    [[models]]
    id = "q"
    kind = "chat"
    family = "qwen2"
    workers = ["http://127.0.0.1:9"]

    [[models]]
    id = "e"
    kind = "embedding"
    dimensions = 8
    workers = ["http://127.0.0.1:9"]
    """
)


def test_preload_loads_each_file_once_and_counters_reuse_it() -> None:
    cfg = parse(CONFIG)
    vocabularies._loaded.clear()
    assert vocabularies.preload(cfg.models) == 2  # llama3 once for two models, qwen; none
    loaded = dict(vocabularies._loaded)
    counter = Counter(cfg)  # what a worker's factory builds after the fork
    assert counter.tokenizers["a"] is counter.tokenizers["b"]
    assert {id(t) for t in loaded.values()} == {
        id(counter.tokenizers["a"]),
        id(counter.tokenizers["q"]),
    }
    assert counter.tokenizers["e"] is None
    assert vocabularies.preload(cfg.models) == 2  # again: nothing new is built
    assert vocabularies._loaded == loaded
