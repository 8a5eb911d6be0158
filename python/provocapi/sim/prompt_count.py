"""``usage.prompt_tokens`` as trtllm-serve reports it: the ids the worker encodes.

- Chat: the family's template rendered (chat_template.py) and tokenized with the model's
  tokenizer file, special tokens one each. trtllm encodes the rendered text with the request's
  ``add_special_tokens`` (False by default for chat: the template writes its own BOS; True adds
  one more), and ``prompt_token_ids``, when given, are the prompt as they are.
- Completions: each prompt string tokenized with ``add_special_tokens`` (True by default, so
  Llama's and Mistral's BOS count; Qwen has none); a prompt of token ids counts its ids.

The tokenizer file is the model's built-in (provocapi/vocab: ``llama3``, ``qwen2.5``,
``tekken`` by family) or the ``--tokenizer`` given, loaded once per process; texts are counted
by the core's ``Tokenizer.count_batch`` (BPE only: the rendering is ours). A special token's
text written by the user (``<|eot_id|>`` in a message) counts as that special token with
Llama's and Qwen's files, as their Hugging Face tokenizers read it in trtllm-serve, and as
plain text with Tekken, as mistral-common encodes it. Without a tokenizer
(``--tokenizer none``, a built-in not installed, a plain OpenAI profile, a request with its own
``chat_template``) the estimate of textgen.py stays. Counting happens while the plan is made,
so a body the memo has seen is not counted again.
"""

from __future__ import annotations

from typing import Any

from .._core import Tokenizer
from ..vocab import FAMILY_DEFAULT, source
from .chat_template import RENDER, RUNS, Runs, Special, Unrenderable

# Llama 3 and Mistral tokenizers put a BOS in front when special tokens are added; Qwen's not.
BOS_ADDED = {"hf": 1, "tekken": 1, "qwen-tiktoken": 0}

_loaded: dict[tuple[str, str], Tokenizer] = {}


def _load(spec: str) -> tuple[Tokenizer, str] | None:
    src = source(spec)
    if src is None or not src[0].is_file():
        return None
    key = (str(src[0]), src[1])
    tok = _loaded.get(key)
    if tok is None:
        tok = _loaded[key] = Tokenizer(key[0], key[1])
    return tok, src[1]


class PromptCounter:
    __slots__ = ("bos", "render", "runs", "tok")

    def __init__(self, tok: Tokenizer, kind: str, family: str) -> None:
        self.tok = tok
        self.render = RENDER[family]
        self.runs = RUNS.get(family)  # the plain conversation's runs at once, if it has one
        self.bos = BOS_ADDED.get(kind, 0)

    def chat(self, body: dict[str, Any]) -> int | None:
        ids = body.get("prompt_token_ids")
        if isinstance(ids, list):
            return len(ids)
        if body.get("chat_template") is not None:
            return None  # a template of the request's own: not ours to render
        runs = self.runs(body) if self.runs is not None else None
        if runs is None:
            runs = self._runs(body)
            if runs is None:
                return None
        specials, texts = runs
        extra = self.bos if body.get("add_special_tokens") is True else 0
        return specials + sum(self.tok.count_batch(texts)) + extra

    def _runs(self, body: dict[str, Any]) -> Runs | None:
        try:
            parts = self.render(body)
        except (Unrenderable, AttributeError, KeyError, TypeError):
            return None
        # The text between two special tokens is tokenized as one string: neighbouring parts
        # are joined first (">" + "\n<" splits unlike ">\n<"). Mostly a run is one part.
        specials = 0
        texts: list[str] = []
        run = None
        for p in parts:
            if p.__class__ is Special:
                specials += 1
                if run is not None:
                    texts.append(run)
                    run = None
            elif p:
                run = p if run is None else run + p
        if run is not None:
            texts.append(run)
        return specials, texts

    def text(self, prompt: str, add_special_tokens: bool = True) -> int:
        return self.tok.count(prompt) + (self.bos if add_special_tokens else 0)


def for_model(family: str, tokenizer: str | None) -> PromptCounter | None:
    """The counter of a simulated model; None to keep the estimate."""
    spec = tokenizer or FAMILY_DEFAULT.get(family)
    if spec is None or spec == "none" or family not in RENDER:
        return None
    loaded = _load(spec)
    if loaded is None:
        return None
    return PromptCounter(loaded[0], loaded[1], family)
