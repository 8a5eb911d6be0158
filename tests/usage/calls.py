"""Real `Call` records for the recorder tests (the default catalogue, a real key)."""

from __future__ import annotations

from provocapi import config as config_mod
from provocapi.adapters import ConfigAdapters
from provocapi.call import Call
from provocapi.catalog import Catalog
from provocapi.keys import KeyRecord

CFG = config_mod.load(None)
CATALOG = Catalog(CFG, ConfigAdapters(CFG))


def key(tenant: str = "acme") -> KeyRecord:
    return KeyRecord(f"key_{tenant}", tenant, "pk-prov-...", None, None, None, 0, None)


def call(model: str = "gpt-4o-mini", tenant: str = "acme", stream: bool = False) -> Call:
    k = key(tenant)
    res = CATALOG.resolve(model, k)
    c = Call("/v1/chat/completions", "chat", k, res, "req_client_1", model, None)
    c.stream = stream
    return c


def finish(c: Call, status: int = 200, prompt: int = 12, completion: int = 7) -> Call:
    c.status = status
    c.prompt_tokens = prompt
    c.completion_tokens = completion
    c.worker = "http://127.0.0.1:9"
    if c.stream:
        c.ttft_s = 0.004
    return c
