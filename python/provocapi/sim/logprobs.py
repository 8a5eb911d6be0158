"""Log probabilities in trtllm-serve's shapes, deterministic per (seed, token).

Mirrors ``create_logprobs`` / ``create_completion_logprobs`` of
``tensorrt_llm/serve/postprocess_handlers.py`` (commit 01bf19231d29d8f0766e31c117d1cf39ed00d3d5)
and the models of ``openai_protocol.py`` (commit 0076e9390e1ed11515f149eec356f5a03f4a00d8):

- chat: ``{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}``; ``top_logprobs`` is
  null unless the request gave a non-zero ``top_logprobs``, and each of its entries is the same
  model (so non-streamed bodies, ``model_dump()``, carry a nested ``"top_logprobs": null``;
  streamed chunks, ``exclude_none``, drop every null);
- completions (``logprobs: k`` >= 1): ``{"text_offset", "token_logprobs", "tokens",
  "top_logprobs"}`` with one ``{token: logprob}`` dict per token. trtllm's text_offset adds the
  length of the *current* token to the previous offset (not of the previous token): kept.

The engine's top-k always holds the sampled token here (rank 1, the most likely), so a
``top_logprobs: k`` answer has exactly k entries per token.
"""

from __future__ import annotations

from binascii import crc32
from dataclasses import dataclass
from typing import Any

from .textgen import WORDS

FLOOR = -9999.0  # trtllm clamps every logprob to this


@dataclass(frozen=True, slots=True)
class Ask:
    """What a request asked for: ``top`` alternatives per token (0: none), and its seed."""

    top: int
    seed: int


def _hash(seed: int, position: int, token: str) -> int:
    return crc32(f"{position}\x00{token}".encode("utf-8", "surrogatepass"), seed & 0xFFFFFFFF)


def ranked(ask: Ask, position: int, token: str, k: int) -> list[tuple[str, float]]:
    """The sampled token first, then k-1 other words, log probabilities descending."""
    h = _hash(ask.seed, position, token)
    lp = -((h % 2000) / 1000.0)  # in (-2, 0]
    out = [(token, max(lp, FLOOR))]
    lead = " " if token.startswith(" ") else ""
    step = 1 + (h >> 11) % 7
    for j in range(1, k):
        word = lead + WORDS[(h + j * step) % len(WORDS)]
        if word == token or any(w == word for w, _ in out):
            word = lead + WORDS[(h + j * step + 1) % len(WORDS)] + str(j)
        lp = lp - 0.25 - ((h >> (j % 16)) % 500) / 1000.0
        out.append((word, max(lp, FLOOR)))
    return out


def _bytes(token: str) -> list[int]:
    return list(token.encode("utf-8", errors="replace"))


def chat_entry(ask: Ask, position: int, token: str, stream: bool) -> dict[str, Any]:
    ranks = ranked(ask, position, token, max(ask.top, 1))
    entry: dict[str, Any] = {"token": token, "logprob": ranks[0][1], "bytes": _bytes(token)}
    if ask.top:
        tops = []
        for word, lp in ranks:
            top: dict[str, Any] = {"token": word, "logprob": lp, "bytes": _bytes(word)}
            if not stream:
                top["top_logprobs"] = None
            tops.append(top)
        entry["top_logprobs"] = tops
    elif not stream:
        entry["top_logprobs"] = None
    return entry


def chat(ask: Ask, pieces: list[str], start: int, stream: bool) -> dict[str, Any]:
    """``ChatCompletionLogProbs`` of ``pieces``, the first at position ``start``."""
    return {"content": [chat_entry(ask, start + i, p, stream) for i, p in enumerate(pieces)]}


def completion(ask: Ask, pieces: list[str], start: int, initial_offset: int) -> dict[str, Any]:
    """``CompletionLogProbs`` of ``pieces`` (``ask.top`` is the request's ``logprobs``)."""
    offsets: list[int] = []
    values: list[float] = []
    tops: list[dict[str, float]] = []
    for i, p in enumerate(pieces):
        ranks = ranked(ask, start + i, p, max(ask.top, 1))
        values.append(ranks[0][1])
        tops.append(dict(ranks))
        offsets.append(initial_offset if not offsets else offsets[-1] + len(p))
    return {
        "text_offset": offsets,
        "token_logprobs": values,
        "tokens": list(pieces),
        "top_logprobs": tops,
    }


# The --openai profile: OpenAI's own shapes (what the gateway's relay makes of trtllm's).


def openai_chat(ask: Ask, pieces: list[str], start: int) -> dict[str, Any]:
    content = []
    for i, p in enumerate(pieces):
        entry = chat_entry(ask, start + i, p, stream=True)
        entry.setdefault("top_logprobs", [])
        content.append(entry)
    return {"content": content, "refusal": None}


def openai_completion(
    ask: Ask, pieces: list[str], start: int, initial_offset: int
) -> dict[str, Any]:
    out = completion(ask, pieces, start, initial_offset)
    offsets, at = [], initial_offset
    for p in pieces:  # each token's own start, as OpenAI counts
        offsets.append(at)
        at += len(p)
    out["text_offset"] = offsets
    return out
