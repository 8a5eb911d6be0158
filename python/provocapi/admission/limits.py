"""Which buckets a call draws on: the tenant's tier, per key, tenant and model.

Each limited scope is one slot of the shared state table (field 0: requests,
field 1: tokens), so every Granian process of the machine charges the same
atomics. A `keys create --rpm/--tpm` value replaces the tier's key level.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .._core import BucketSet, StateTable
from ..config import Config, TierConfig
from ..keys import KeyRecord

REQUESTS, TOKENS = 0, 1  # fields of a scope's slot
_NO_TIER = TierConfig()


@dataclass(frozen=True, slots=True)
class Scope:
    label: str  # for refusal messages: "key key_ab12", "tenant acme", ...
    rpm: int | None
    tpm: int | None
    slot_key: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The bucket set of one (key, model) and what each bucket stands for."""

    buckets: BucketSet
    names: list[tuple[str, str]]  # per bucket: (scope label, "requests" | "tokens")
    cells: list[tuple[int, int]]  # per bucket: (slot, field) in the state table
    redis_keys: list[str]  # per bucket: its global arrival time in Redis
    table: StateTable


def _slot_key(*parts: str) -> str:
    key = "rl:" + "\x1f".join(parts)
    if len(key.encode()) > StateTable.KEY_MAX:  # tenant names are free text
        key = "rl:h:" + hashlib.sha256(key.encode()).hexdigest()
    return key


class LimitTable:
    """(key, model) → its Limits, memoised per process (None: not limited)."""

    def __init__(self, cfg: Config, table: StateTable) -> None:
        self.cfg = cfg
        self.table = table
        self._alias = {n: m.id for m in cfg.models for n in (m.id, *m.aliases)}
        self._memo: dict[tuple[str, str], Limits | None] = {}

    def tier(self, tenant: str) -> TierConfig:
        t = self.cfg.tenants.get(tenant)
        return self.cfg.tiers.get(t.tier if t else "default", _NO_TIER)

    def scopes(self, key: KeyRecord, model_id: str) -> list[Scope]:
        tier = self.tier(key.tenant)
        per_model = {self._alias.get(n, n): ml for n, ml in tier.models.items()}.get(model_id)
        scopes = [
            Scope(
                f"key {key.id}",
                key.rpm if key.rpm is not None else tier.key_rpm,
                key.tpm if key.tpm is not None else tier.key_tpm,
                _slot_key("k", key.id),
            ),
            Scope(
                f"tenant {key.tenant}",
                tier.tenant_rpm,
                tier.tenant_tpm,
                _slot_key("t", key.tenant),
            ),
        ]
        if per_model is not None:
            scopes.append(
                Scope(
                    f"model {model_id} for tenant {key.tenant}",
                    per_model.rpm,
                    per_model.tpm,
                    _slot_key("m", key.tenant, model_id),
                )
            )
        return scopes

    def get(self, key: KeyRecord, model_id: str) -> Limits | None:
        memo_key = (key.id, model_id)
        try:
            return self._memo[memo_key]
        except KeyError:
            pass
        spec: list[tuple[int, int, int, bool]] = []
        names: list[tuple[str, str]] = []
        rkeys: list[str] = []
        for scope in self.scopes(key, model_id):
            slot = self.table.slot(scope.slot_key) if scope.rpm or scope.tpm else -1
            for field, limit, unit in (
                (REQUESTS, scope.rpm, "requests"),
                (TOKENS, scope.tpm, "tokens"),
            ):
                if limit is not None:
                    spec.append((slot, field, limit, unit == "tokens"))
                    names.append((scope.label, unit))
                    rkeys.append(f"pvc:{scope.slot_key}:{field}")
        limits = None
        if spec:
            cells = [(slot, field) for slot, field, _, _ in spec]
            limits = Limits(BucketSet(self.table, spec), names, cells, rkeys, self.table)
        if len(self._memo) < 100_000:
            self._memo[memo_key] = limits
        return limits
