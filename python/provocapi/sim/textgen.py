"""Deterministic text: the same (seed, prompt) always gives the same tokens.

One word is one token; a token after the first carries its leading space, as BPE
tokenizers do, so the streamed pieces concatenate to the text.
"""

from __future__ import annotations

import re
from binascii import crc32
from dataclasses import dataclass, field

WORDS: tuple[str, ...] = (
    "the",
    "quick",
    "model",
    "answers",
    "with",
    "simulated",
    "words",
    "from",
    "a",
    "fixed",
    "list",
    "so",
    "tests",
    "can",
    "predict",
    "every",
    "token",
    "it",
    "sends",
    "river",
    "stone",
    "light",
    "cloud",
    "paper",
    "garden",
    "window",
    "silver",
    "orange",
    "music",
    "engine",
    "signal",
    "harbor",
    "forest",
    "planet",
    "yellow",
    "winter",
    "candle",
    "mirror",
    "bridge",
    "meadow",
    "rocket",
    "pencil",
    "castle",
    "island",
    "thunder",
    "velvet",
    "copper",
    "lantern",
    "marble",
    "falcon",
    "canyon",
    "ember",
    "glacier",
    "horizon",
    "jasmine",
    "kettle",
    "lemon",
    "maple",
    "nectar",
    "oasis",
    "pebble",
    "quartz",
    "saddle",
    "tulip",
)
_SPACED: tuple[str, ...] = tuple(" " + w for w in WORDS)
_N = len(WORDS)
_TOKEN_RE = re.compile(r"\s*\S+|\s+$")


def text_key(text: str, seed: int) -> int:
    # binascii's CRC-32 is zlib's (the same values), about twice as fast here
    return crc32(text.encode("utf-8", "surrogatepass"), seed & 0xFFFFFFFF)


# The walk of each (start, step) over one period of _N words, made once (at most _N * 5).
_CYCLES: dict[tuple[int, int], list[str]] = {}


def word_pieces(key: int, count: int) -> list[str]:
    """``count`` tokens of prose; varied by the key, never random."""
    step = 7 + (key >> 8) % 5 * 2  # odd steps walk every word before repeating
    start = key % _N
    # word i is _SPACED[(start + i * step) % _N]: periodic in i with period _N
    cycle = _CYCLES.get((start, step))
    if cycle is None:
        cycle = _CYCLES[(start, step)] = [_SPACED[(start + i * step) % _N] for i in range(_N)]
    pieces = cycle[:count] if count <= _N else (cycle * (count // _N + 1))[:count]
    if pieces:
        pieces[0] = pieces[0][1:]
    return pieces


def split_tokens(text: str) -> list[str]:
    """Token pieces of a rendered text (JSON, tool calls): each run of non-space with
    the whitespace before it."""
    return _TOKEN_RE.findall(text)


def estimate_tokens(text: str) -> int:
    """Prompt tokens, about four characters each (never zero for a non-empty text)."""
    return (len(text) + 3) // 4


@dataclass(slots=True)
class Choice:
    """One generated answer: its token pieces and why it ended.

    ``pieces`` may be shared with other choices (prose is cached): never change the list in
    place, make a new Choice instead."""

    pieces: list[str]
    finish_reason: str
    stop_reason: str | None = None
    # "".join(pieces), when known; else made on first use
    joined: str | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        text = self.joined
        if text is None:
            text = self.joined = "".join(self.pieces)
        return text


def answer_length(
    natural: int,
    max_tokens: int | None,
    min_tokens: int,
    ignore_eos: bool,
) -> tuple[int, str]:
    """How many tokens to emit and whether max_tokens cut the answer."""
    if ignore_eos and max_tokens is not None:
        return max(max_tokens, 0), "length"  # no EOS: only the budget ends it
    count = max(natural, min_tokens)
    if max_tokens is not None and max_tokens < count:
        return max(max_tokens, 0), "length"
    return count, "stop"


def apply_stop(choice: Choice, stops: list[str], include_stop: bool) -> Choice:
    """Cut at the earliest stop string, as the engine's detokenizer does."""
    if not stops:
        return choice
    text = choice.text
    best = -1
    hit = ""
    for s in stops:
        if not s:
            continue
        i = text.find(s)
        if i != -1 and (best == -1 or i < best):
            best, hit = i, s
    if best == -1:
        return choice
    end = best + len(hit) if include_stop else best
    kept: list[str] = []
    pos = 0
    for piece in choice.pieces:
        if pos >= end and pos > best:
            break
        take = piece[: max(end - pos, 0)]
        kept.append(take)
        pos += len(piece)
        if pos > best:
            break
    return Choice(kept, "stop", hit)


# Prose by what determines it, (start, step, count) of word_pieces: its pieces and text.
# Answers up to _PROSE_LONGEST tokens, at most _PROSE_MAX of them (a few MB at worst).
_PROSE: dict[tuple[int, int, int], tuple[list[str], str]] = {}
_PROSE_MAX = 1024
_PROSE_LONGEST = 512


def prose(key: int, count: int, finish: str) -> Choice:
    if count > _PROSE_LONGEST:
        return Choice(word_pieces(key, count), finish)
    cache_key = (key % _N, (key >> 8) % 5, count)
    hit = _PROSE.get(cache_key)
    if hit is None:
        if len(_PROSE) >= _PROSE_MAX:
            _PROSE.clear()
        pieces = word_pieces(key, count)
        hit = _PROSE[cache_key] = (pieces, "".join(pieces))
    return Choice(hit[0], finish, None, hit[1])


def rendered(text: str, max_tokens: int | None) -> Choice:
    """A structured text (JSON, tool-call markup) as tokens, cut by max_tokens."""
    pieces = split_tokens(text)
    if max_tokens is not None and max_tokens < len(pieces):
        return Choice(pieces[: max(max_tokens, 0)], "length")
    return Choice(pieces, "stop")
