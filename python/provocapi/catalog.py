"""Model names as clients write them → the model that serves them.

`gpt-4o` → `llama-3.1-70b-instruct`; `llama-3.1-8b-instruct:sql` → that model
with the `sql` LoRA adapter (split on the last ':', alias resolved on the left);
then the caller's allowlist (tenant, narrowed by the key).
"""

from __future__ import annotations

from dataclasses import dataclass

from .adapters import Adapter, AdapterSource
from .config import Config, ModelConfig
from .error_catalog import ADAPTER_NOT_FOUND, model_not_found
from .errors import quote
from .keys import KeyRecord


@dataclass(frozen=True, slots=True)
class Resolved:
    model: ModelConfig
    adapter: Adapter | None
    public_id: str  # what responses report: the canonical id (+ ":adapter")


class Catalog:
    def __init__(self, cfg: Config, adapters: AdapterSource) -> None:
        self.cfg = cfg
        self.adapters = adapters
        self.models = {m.id: m for m in cfg.models}
        self.by_name: dict[str, ModelConfig] = {}
        for m in cfg.models:
            self.by_name[m.id] = m
            for alias in m.aliases:
                self.by_name[alias] = m
        self._allowed_memo: dict[tuple[str, tuple[str, ...] | None], frozenset[str]] = {}
        self._resolve_memo: dict[tuple[str, str], Resolved] = {}

    def allowed(self, key: KeyRecord) -> frozenset[str]:
        """Canonical ids this key may use: its tenant's models, narrowed by the key."""
        memo_key = (key.tenant, key.models)
        got = self._allowed_memo.get(memo_key)
        if got is not None:
            return got
        tenant = self.cfg.tenants.get(key.tenant)
        ids = set(self.models)
        if tenant is not None and tenant.models is not None:
            ids &= {self.by_name[n].id for n in tenant.models if n in self.by_name}
        if key.models is not None:
            ids &= {self.by_name[n].id for n in key.models if n in self.by_name}
        got = frozenset(ids)
        self._allowed_memo[memo_key] = got
        return got

    def resolve(self, name: str, key: KeyRecord) -> Resolved:
        memo_key = (name, key.id)
        got = self._resolve_memo.get(memo_key)
        if got is not None:
            return got
        base, sep, adapter_name = name.rpartition(":")
        if not sep:
            base, adapter_name = name, ""
        model = self.by_name.get(base)
        if model is None or model.id not in self.allowed(key):
            raise model_not_found(name)
        if sep:
            # never memoised: a stored adapter may be deleted at any moment
            adapter = self.adapters.get(model.id, adapter_name, key.tenant)
            if adapter is None:
                raise ADAPTER_NOT_FOUND.build(adapter=quote(adapter_name), model=model.id)
            return Resolved(model, adapter, f"{model.id}:{adapter.name}")
        got = Resolved(model, None, model.id)
        if len(self._resolve_memo) < 10_000:
            self._resolve_memo[memo_key] = got
        return got

    def canonical(self, name: str) -> str:
        """The model id an alias names (`gpt-4o-mini:sql` → `llama-3.1-8b-instruct:sql`);
        a name the catalogue does not know comes back as given."""
        base, sep, adapter_name = name.rpartition(":")
        model = self.by_name.get(base if sep else name)
        if model is None:
            return name
        return f"{model.id}:{adapter_name}" if sep else model.id

    def visible_names(self, key: KeyRecord) -> list[tuple[str, ModelConfig]]:
        """(name, model) pairs a key may use: canonical ids, then their aliases."""
        allowed = self.allowed(key)
        out: list[tuple[str, ModelConfig]] = []
        for m in self.cfg.models:
            if m.id in allowed:
                out.append((m.id, m))
                out.extend((a, m) for a in m.aliases)
        return out
