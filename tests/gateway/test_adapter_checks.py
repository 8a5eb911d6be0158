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
