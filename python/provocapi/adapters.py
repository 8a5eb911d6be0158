"""Where LoRA adapters come from.

`AdapterSource` is the interface the gateway asks; `ConfigAdapters` answers from
the config file. The adapters issue adds a store behind the same interface
(uploads, fleet-wide `lora_int_id` allocation that is never reused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .config import Config


@dataclass(frozen=True, slots=True)
class Adapter:
    model_id: str
    name: str
    lora_path: str
    lora_int_id: int

    def lora_request(self) -> dict[str, object]:
        # TensorRT-LLM's `LoRARequest` as trtllm-serve accepts it per request.
        return {
            "lora_name": self.name,
            "lora_int_id": self.lora_int_id,
            "lora_path": self.lora_path,
        }


class AdapterSource(Protocol):
    def get(self, model_id: str, name: str) -> Adapter | None: ...


class ConfigAdapters:
    def __init__(self, cfg: Config) -> None:
        self._by_key = {
            (m.id, a.name): Adapter(m.id, a.name, a.lora_path, a.lora_int_id)
            for m in cfg.models
            for a in m.adapters
        }

    def get(self, model_id: str, name: str) -> Adapter | None:
        return self._by_key.get((model_id, name))
