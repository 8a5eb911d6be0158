"""The worker's LoRA cache, as trtllm-serve's `lora_config.max_loras` sizes it:
N adapters resident by `lora_int_id`, least recently used evicted, and a load
delay on a miss. So a router that sends an adapter back where it is resident
shows it in time to first token (and in /sim/stats' hits and misses)."""

from __future__ import annotations

from collections import OrderedDict


class LoraCache:
    def __init__(self, slots: int, load_s: float) -> None:
        self.slots = slots  # 0: no limit and no load delay (the cache is not modelled)
        self.load_s = load_s
        self._resident: OrderedDict[int, None] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def use(self, lora_int_id: int) -> float:
        """Seconds this request waits for its adapter to load (0 on a hit)."""
        if self.slots <= 0:
            return 0.0
        if lora_int_id in self._resident:
            self._resident.move_to_end(lora_int_id)
            self.hits += 1
            return 0.0
        self.misses += 1
        self._resident[lora_int_id] = None
        while len(self._resident) > self.slots:
            self._resident.popitem(last=False)
            self.evictions += 1
        return self.load_s

    def resident(self) -> list[int]:
        return list(self._resident)
