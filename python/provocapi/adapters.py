"""Where LoRA adapters come from.

`AdapterSource` is the interface the gateway asks, per tenant. `ConfigAdapters`
answers from the config file (operator adapters, visible to the tenants their
`tenants` list names, or to all); `StoredAdapters` from the adapter store
(a tenant's own uploads), as an in-memory view reloaded when the store changes
(checked on every adapter call and every 250 ms: a delete or re-create in any
process applies to the next call). `Adapters` asks the config first, then the store.

`lora_int_id`: the config's are below `STORE_LORA_ID_START` (1,000,000), the
store hands out ids from there up and never reuses one, even after a delete: a
worker caches adapters by that id, and a reused id would serve stale weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from .adapterstore.store import AdapterStore
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
    def get(self, model_id: str, name: str, tenant: str) -> Adapter | None: ...


class ConfigAdapters:
    def __init__(self, cfg: Config) -> None:
        self._by_key = {
            (m.id, a.name): (Adapter(m.id, a.name, a.lora_path, a.lora_int_id), a.tenants)
            for m in cfg.models
            for a in m.adapters
        }

    def get(self, model_id: str, name: str, tenant: str) -> Adapter | None:
        got = self._by_key.get((model_id, name))
        if got is None:
            return None
        adapter, tenants = got
        return adapter if tenants is None or tenant in tenants else None

    def names(self, model_id: str, tenant: str) -> list[str]:
        return [
            a.name
            for (mid, _), (a, tenants) in self._by_key.items()
            if mid == model_id and (tenants is None or tenant in tenants)
        ]


class StoredAdapters:
    """The store's ready adapters by (tenant, model, name), as the workers see them."""

    def __init__(self, store: AdapterStore, worker_dir: str) -> None:
        self.store = store
        self.worker_dir = worker_dir
        self._version = -1
        self._by_key: dict[tuple[str, str, str], Adapter] = {}
        self.refresh()

    def refresh(self) -> bool:
        version = self.store.data_version()
        if version == self._version:
            return False
        self.reload()
        self._version = version
        return True

    def reload(self) -> None:
        """Read the store now (this process's own changes do not move data_version)."""
        by_key = {}
        for a in self.store.ready():
            path = str(PurePosixPath(self.worker_dir) / a.id)
            by_key[(a.tenant, a.base_model, a.name)] = Adapter(
                a.base_model, a.name, path, a.lora_int_id
            )
        self._by_key = by_key

    def get(self, model_id: str, name: str, tenant: str) -> Adapter | None:
        # A version check per adapter call (one PRAGMA, a few µs): a delete or a
        # re-create by another process applies to the very next call.
        self.refresh()
        return self._by_key.get((tenant, model_id, name))

    def of_tenant(self, tenant: str) -> list[Adapter]:
        # /v1/models lists what the next call would find, whichever process answers.
        self.refresh()
        return [a for (t, _, _), a in self._by_key.items() if t == tenant]


class Adapters:
    """Operator adapters first, then the tenant's own."""

    def __init__(self, config: ConfigAdapters, stored: StoredAdapters) -> None:
        self.config = config
        self.stored = stored

    def get(self, model_id: str, name: str, tenant: str) -> Adapter | None:
        return self.config.get(model_id, name, tenant) or self.stored.get(model_id, name, tenant)
