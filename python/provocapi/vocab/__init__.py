"""The tokenizer files that ship inside the package, and how a `tokenizer` value names one.

A model's `tokenizer` (docs/config.md) is a built-in name, `"none"`, or a path.
Built-ins live in this folder (each with its LICENSE and NOTICE), so a plain
`pip install provocapi` counts exactly and nothing is ever fetched. Without
`tokenizer`, a chat model takes its family's built-in. A built-in whose file
is missing is a broken install: an error at start, never a silent estimate.

A neutral leaf: the config loader checks tokenizers with it, admission loads
them (admission/vocabularies.py), and the simulator counts with the same files
without depending on the gateway. It imports nothing from provocapi.
"""

from __future__ import annotations

from pathlib import Path

# name → (file inside provocapi/vocab, kind of file)
BUILTIN: dict[str, tuple[str, str]] = {
    # Meta's Llama 3 tokenizer.json: Llama 3.1's vocabulary and special tokens.
    "llama3": ("llama3/tokenizer.json", "hf"),
    # Qwen's BPE ranks; the core adds Qwen 2.5's added tokens and NFC.
    "qwen2.5": ("qwen2.5/qwen.tiktoken", "qwen-tiktoken"),
    # Tekken, the tokenizer of Mistral Small 3 (see docs/config.md for why this file).
    "tekken": ("tekken/tekken_240911.json", "tekken"),
}
# model family → its built-in
FAMILY_DEFAULT = {"llama3": "llama3", "qwen2": "qwen2.5", "mistral": "tekken"}


class MissingVocabulary(FileNotFoundError):
    """A built-in tokenizer file is not where the package ships it."""


def shipped_dir() -> Path:
    """The folder of the shipped tokenizer files (provocapi/vocab)."""
    return Path(__file__).resolve().parent


def builtin_path(name: str) -> Path:
    """The shipped file of a built-in; MissingVocabulary when the install lacks it."""
    path = shipped_dir() / BUILTIN[name][0]
    if not path.is_file():
        raise MissingVocabulary(
            f"tokenizer {name!r} ships with provocapi but {path} is missing: "
            "the install is broken (reinstall the package)"
        )
    return path


def source(spec: str) -> tuple[Path, str] | None:
    """(file, kind) for a `tokenizer` value; None for `"none"` (no tokenizer).

    A built-in whose file is missing raises MissingVocabulary."""
    if spec == "none":
        return None
    if spec in BUILTIN:
        return builtin_path(spec), BUILTIN[spec][1]
    path = Path(spec)
    if path.suffix == ".tiktoken":
        return path, "qwen-tiktoken"
    if path.name.startswith("tekken") and path.suffix == ".json":
        return path, "tekken"
    return path, "hf"


def spec_for(tokenizer: str | None, family: str | None) -> str | None:
    """The `tokenizer` a model counts with: its own, else its family's built-in; None for none."""
    spec = tokenizer or FAMILY_DEFAULT.get(family or "")
    return None if spec in (None, "none") else spec
