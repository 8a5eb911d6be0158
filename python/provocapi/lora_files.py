"""A PEFT LoRA adapter's two files, read without loading a tensor.

`adapter_model.safetensors` is an 8-byte little-endian header length, a JSON
header (tensor name → dtype, shape, data_offsets), then the raw bytes. Only the
header is read; its offsets must tile the data exactly, so a truncated file or
one with stray bytes is caught before any worker sees it. Shared by the gateway
(upload validation) and the simulator (which checks what a worker would load):
a leaf that imports nothing of either.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own cap on the header
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2,
    "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
# base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight (PEFT's names)
_LORA_NAME = re.compile(
    r"^(?:base_model\.model\.)?(?:model\.)?layers\.(\d+)\.(?:self_attn|mlp)\."
    r"([a-z_]+)\.lora_([AB])(?:\.default)?\.weight$"
)


class AdapterFileError(ValueError):
    """What is wrong with an adapter's files, worded for the client."""


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LoraTensor:
    layer: int
    module: str  # q_proj, k_proj, ...
    half: str  # "A" (rank x in) or "B" (out x rank)
    tensor: Tensor


def read_header(path: str | Path) -> list[Tensor]:
    """The tensors a safetensors file declares; AdapterFileError if it is not one."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise AdapterFileError(f"{WEIGHTS_FILE} is truncated: {size} bytes, no header")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise AdapterFileError(
                f"{WEIGHTS_FILE} is truncated or not safetensors: its header claims {n} bytes "
                f"but the file has {size}"
            )
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise AdapterFileError(f"{WEIGHTS_FILE}: its header is not JSON") from None
    except RecursionError:  # "[[[[..." nested past the parser's stack: not a header
        raise AdapterFileError(f"{WEIGHTS_FILE}: its header nests too deeply") from None
    if not isinstance(header, dict):
        raise AdapterFileError(f"{WEIGHTS_FILE}: its header is not a JSON object")
    tensors, spans = _tensors(header)
    _check_spans(spans, size - 8 - n)
    return tensors


def _tensors(header: dict[str, Any]) -> tuple[list[Tensor], list[tuple[int, int, str]]]:
    tensors: list[Tensor] = []
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise AdapterFileError(f"{WEIGHTS_FILE}: tensor {name!r} has no description")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise AdapterFileError(f"{WEIGHTS_FILE}: tensor {name!r} has unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(_nat(d) for d in shape)):
            raise AdapterFileError(f"{WEIGHTS_FILE}: tensor {name!r} has a bad shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_nat, offsets))):
            raise AdapterFileError(f"{WEIGHTS_FILE}: tensor {name!r} has bad data_offsets")
        begin, end = offsets
        count = 1
        for d in shape:
            count *= d
        if end - begin != count * DTYPE_BYTES[dtype]:
            raise AdapterFileError(
                f"{WEIGHTS_FILE}: tensor {name!r} spans {end - begin} bytes, but {dtype} "
                f"{shape} needs {count * DTYPE_BYTES[dtype]}"
            )
        tensors.append(Tensor(name, dtype, tuple(shape)))
        spans.append((begin, end, name))
    return tensors, spans


def _nat(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_spans(spans: list[tuple[int, int, str]], data_bytes: int) -> None:
    """The tensors' bytes must tile the data: no gap, no overlap, nothing missing."""
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            raise AdapterFileError(f"{WEIGHTS_FILE}: tensor {name!r} does not follow the previous")
        at = end
    if at != data_bytes:
        raise AdapterFileError(
            f"{WEIGHTS_FILE} is truncated: its tensors need {at} bytes of data, "
            f"the file holds {data_bytes}"
        )


def lora_tensors(tensors: list[Tensor]) -> list[LoraTensor]:
    out = []
    for t in tensors:
        m = _LORA_NAME.match(t.name)
        if m is None:
            raise AdapterFileError(
                f"{WEIGHTS_FILE}: tensor {t.name!r} is not a LoRA A/B weight of a decoder "
                "layer (modules_to_save and embedding weights cannot be served)"
            )
        out.append(LoraTensor(int(m.group(1)), m.group(2), m.group(3), t))
    return out


def read_config(path: str | Path) -> dict[str, Any]:
    try:
        raw = Path(path).read_bytes()
        cfg = json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError):
        raise AdapterFileError(f"{CONFIG_FILE} is not a JSON file") from None
    if not isinstance(cfg, dict):
        raise AdapterFileError(f"{CONFIG_FILE} is not a JSON object")
    return cfg


def check_directory(path: str | Path) -> list[LoraTensor]:
    """A worker's view: the directory holds both files and they read as a LoRA."""
    folder = Path(path)
    if not (folder / CONFIG_FILE).is_file():
        raise AdapterFileError(f"{folder} holds no {CONFIG_FILE}")
    if not (folder / WEIGHTS_FILE).is_file():
        raise AdapterFileError(f"{folder} holds no {WEIGHTS_FILE}")
    read_config(folder / CONFIG_FILE)
    return lora_tensors(read_header(folder / WEIGHTS_FILE))


ARCHITECTURE_FIELDS = (
    "layers",
    "hidden_size",
    "intermediate_size",
    "heads",
    "kv_heads",
    "head_dim",
)


def module_shapes(
    hidden_size: int, intermediate_size: int, heads: int, kv_heads: int, head_dim: int
) -> dict[str, tuple[int, int]]:
    """PEFT module name → (in features, out features) of the base weight it adapts.
    head_dim is given, never hidden ÷ heads (Mistral Small 3: 5,120 with 32 x 128)."""
    q = heads * head_dim
    kv = kv_heads * head_dim
    return {
        "q_proj": (hidden_size, q),
        "k_proj": (hidden_size, kv),
        "v_proj": (hidden_size, kv),
        "o_proj": (q, hidden_size),
        "gate_proj": (hidden_size, intermediate_size),
        "up_proj": (hidden_size, intermediate_size),
        "down_proj": (intermediate_size, hidden_size),
    }


def check_fit(folder: str | Path, architecture: dict[str, int]) -> None:
    """A worker's LoRA load: every tensor fits its layer and module of a base model of
    this architecture (ARCHITECTURE_FIELDS) at the config's rank; AdapterFileError if not."""
    folder = Path(folder)
    rank = read_config(folder / CONFIG_FILE).get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise AdapterFileError(f"{CONFIG_FILE}: r must be a positive integer")
    a = architecture
    shapes = module_shapes(
        a["hidden_size"], a["intermediate_size"], a["heads"], a["kv_heads"], a["head_dim"]
    )
    for t in lora_tensors(read_header(folder / WEIGHTS_FILE)):
        if t.layer >= a["layers"]:
            raise AdapterFileError(
                f"tensor {t.tensor.name!r} is for layer {t.layer}; the model has "
                f"{a['layers']} layers"
            )
        if t.module not in shapes:
            raise AdapterFileError(f"tensor {t.tensor.name!r} adapts unknown module {t.module}")
        d_in, d_out = shapes[t.module]
        want = (rank, d_in) if t.half == "A" else (d_out, rank)
        if t.tensor.shape != want:
            raise AdapterFileError(
                f"tensor {t.tensor.name!r} has shape {list(t.tensor.shape)}; the model's "
                f"{t.module} at rank {rank} needs {list(want)}"
            )


def write_zero_adapter(
    folder: str | Path,
    modules: dict[str, tuple[int, int]],
    *,
    rank: int,
    layers: int,
    dtype: str = "BF16",
    alpha: int = 16,
) -> None:
    """A valid adapter of zeros (modules: name → (in, out)): the embedded default's
    example and the tests' fixtures; nothing is ever loaded from it but its header."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {}
    at = 0
    width = DTYPE_BYTES[dtype]
    for layer in range(layers):
        for module, (d_in, d_out) in modules.items():
            kind = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            base = f"base_model.model.model.layers.{layer}.{kind}.{module}"
            for half, shape in (("A", [rank, d_in]), ("B", [d_out, rank])):
                n = shape[0] * shape[1] * width
                header[f"{base}.lora_{half}.weight"] = {
                    "dtype": dtype, "shape": shape, "data_offsets": [at, at + n],
                }  # fmt: skip
                at += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(folder / WEIGHTS_FILE, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + at)  # zeros, without holding them in memory
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": alpha,
        "target_modules": sorted(modules),
        "bias": "none",
        "task_type": "CAUSAL_LM",
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config))
