"""The adapter checks and sources without a server: safetensors headers, PEFT
configs, operator adapters' tenants, the lora_int_id ranges."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provocapi import config
from provocapi.adapters import ConfigAdapters
from provocapi.adapterstore import checks
from provocapi.adapterstore.sqlite_store import SqliteAdapterStore
from provocapi.lora_files import (
    CONFIG_FILE,
    DTYPE_BYTES,
    WEIGHTS_FILE,
    AdapterFileError,
    read_header,
    write_zero_adapter,
)

MODEL = config.parse(
    '[[models]]\nid = "llama-3.1-8b-instruct"\nkind = "chat"\nworkers = ["http://w"]\n'
).models[0]


def _adapter(tmp_path: Path, **cfg: object) -> Path:
    folder = tmp_path / "a"
    write_zero_adapter(folder, {"q_proj": (4096, 4096)}, rank=2, layers=1)
    data = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps({**data, **cfg}))
    return folder


def test_a_good_adapter_passes(tmp_path: Path) -> None:
    got = checks.check(_adapter(tmp_path), MODEL)
    assert got.rank == 2 and got.target_modules == ("q_proj",)


@pytest.mark.parametrize(
    ("cfg", "says"),
    [
        ({"rank_pattern": {"q_proj": 4}}, "rank_pattern"),
        ({"alpha_pattern": {"q_proj": 4}}, "alpha_pattern"),
        ({"peft_type": "IA3"}, "not LORA"),
        ({"target_modules": "q_proj"}, "list"),
        ({"lora_alpha": -1}, "lora_alpha"),
        ({"r": 0}, "positive"),
    ],
)
def test_config_refusals_name_the_field(tmp_path: Path, cfg: dict[str, object], says: str) -> None:
    with pytest.raises(AdapterFileError, match=says):
        checks.check(_adapter(tmp_path, **cfg), MODEL)


def test_tensor_offsets_must_tile_the_data(tmp_path: Path) -> None:
    header = {"x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
              "y": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]}}  # fmt: skip
    raw = json.dumps(header).encode()
    path = tmp_path / WEIGHTS_FILE
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    with pytest.raises(AdapterFileError, match="does not follow"):
        read_header(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_any_bytes_are_refused_cleanly_or_read(tmp_path_factory: pytest.TempPathFactory,
                                               data: bytes) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("fuzz") / WEIGHTS_FILE
    path.write_bytes(data)
    try:
        read_header(path)
    except AdapterFileError:
        pass


def test_operator_adapters_are_visible_to_their_tenants() -> None:
    cfg = config.parse(
        '[[models]]\nid = "m"\nkind = "chat"\nworkers = ["http://w"]\n'
        '[[models.adapters]]\nname = "mine"\nlora_path = "/l"\nlora_int_id = 5\n'
        'tenants = ["acme"]\n'
        '[[models.adapters]]\nname = "all"\nlora_path = "/l"\nlora_int_id = 6\n'
    )
    source = ConfigAdapters(cfg)
    assert source.get("m", "mine", "acme") is not None
    assert source.get("m", "mine", "other") is None
    assert source.get("m", "all", "other") is not None


def test_config_ids_stay_below_the_store_range(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="between 1 and 999999"):
        config.parse(
            '[[models]]\nid = "m"\nkind = "chat"\nworkers = ["http://w"]\n'
            '[[models.adapters]]\nname = "a"\nlora_path = "/l"\nlora_int_id = 1000000\n'
        )
    store = SqliteAdapterStore(tmp_path)
    ids = []
    for _ in range(3):
        rec = store.create("t", "same", "m", {"type": "upload"})
        ids.append(rec.lora_int_id)
        store.delete(rec.id)
    reopened = SqliteAdapterStore(tmp_path)  # the counter lives in the file
    ids.append(reopened.create("t", "same", "m", {"type": "upload"}).lora_int_id)
    assert ids == [1_000_000, 1_000_001, 1_000_002, 1_000_003]


def test_a_pending_adapter_whose_fetch_died_becomes_failed(tmp_path: Path) -> None:
    store = SqliteAdapterStore(tmp_path)
    rec = store.create("t", "hub", "m", {"type": "huggingface"})
    assert store.fail_stale_pending(rec.created_at, "gone") == 0  # not older than itself
    assert store.fail_stale_pending(rec.created_at + 1, "gone") == 1
    got = store.get(rec.id)
    assert got is not None and got.status == "failed" and got.error == "gone"
    assert store.ready() == []


# ---- the safetensors header reader, fuzzed by structure (Hypothesis) --------------
# (Python-only code, so it is fuzzed here rather than with the Rust targets in fuzz/)

_DIMS = st.one_of(st.integers(0, 6), st.integers(0, 2**70), st.just(-1), st.just(True))
_TENSOR = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.one_of(st.sampled_from(sorted(DTYPE_BYTES)), st.text(max_size=4)),
        "shape": st.one_of(st.lists(_DIMS, max_size=3), st.integers(), st.none()),
        "data_offsets": st.one_of(st.lists(st.integers(-1, 64), max_size=3), st.text()),
    },
)


@st.composite
def safetensors_files(draw: st.DrawFn) -> bytes:
    """Headers shaped like safetensors', often valid, mutated in their parts: bad
    dtypes and shapes, offsets off by some, huge or negative numbers, extra or
    missing data bytes, a lying length, nesting, odd text."""
    tensors: dict[str, object] = {}
    at = 0
    for i in range(draw(st.integers(0, 4))):
        name = draw(st.one_of(st.just(f"layers.{i}.self_attn.q_proj.lora_A.weight"),
                              st.text(max_size=8)))  # fmt: skip
        if draw(st.booleans()):  # a valid entry, following the previous
            dtype = draw(st.sampled_from(sorted(DTYPE_BYTES)))
            shape = draw(st.lists(st.integers(0, 4), max_size=3))
            n = DTYPE_BYTES[dtype]
            for d in shape:
                n *= d
            tensors[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + n]}
            at += n
        else:
            tensors[name] = draw(st.one_of(_TENSOR, st.integers(), st.text(max_size=4)))
    if draw(st.booleans()):
        tensors["__metadata__"] = {"format": draw(st.text(max_size=6))}
    raw = json.dumps(tensors).encode()
    if draw(st.integers(0, 9)) == 0:  # nested past any parser's stack
        raw = b"[" * draw(st.integers(1, 5_000)) + raw
    if draw(st.integers(0, 9)) == 0:
        raw = raw.replace(b'"', b"'", 1)
    length = len(raw) + draw(st.sampled_from([0, 0, 0, 1, -1, 2**63]))
    data = b"\0" * max(0, at + draw(st.sampled_from([0, 0, 0, 1, -1])))
    return struct.pack("<Q", max(0, min(length, 2**64 - 1))) + raw + data


@settings(max_examples=150, deadline=None)
@given(safetensors_files())
def test_safetensors_headers_read_exactly_or_are_refused(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("st") / WEIGHTS_FILE
    path.write_bytes(data)
    try:
        tensors = read_header(path)
    except AdapterFileError:
        return  # refused, with a message for the client
    # read: the declared tensors tile the data bytes exactly
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    declared = {k: v for k, v in header.items() if k != "__metadata__"}
    assert [t.name for t in tensors] == list(declared)
    need = 0
    for t in tensors:
        count = DTYPE_BYTES[t.dtype]
        for d in t.shape:
            count *= d
        need += count
    assert need == len(data) - 8 - n


def test_a_deeply_nested_header_is_refused(tmp_path: Path) -> None:
    """Found by the structure-aware fuzzing above: json.loads raised RecursionError."""
    raw = b"[" * 200_000
    path = tmp_path / WEIGHTS_FILE
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(AdapterFileError, match="nests too deeply"):
        read_header(path)
