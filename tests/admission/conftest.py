"""In-process admission: a config, a fresh state table, calls built as handlers build them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from provocapi._core import StateTable
from provocapi.adapters import ConfigAdapters
from provocapi.admission.gate import Gate
from provocapi.call import Call
from provocapi.catalog import Catalog
from provocapi.config import Config, parse
from provocapi.decoding import decode
from provocapi.keys import KeyRecord
from provocapi.request_policy import plan_chat, plan_completion
from provocapi.schemas import ChatRequest, CompletionRequest
from provocapi.telemetry import Telemetry

CONFIG = textwrap.dedent(
    """\
    [tenants.acme]
    tier = "pro"

    [tenants.small]
    tier = "tiny"

    [tiers.default]
    key_rpm = 5

    [tiers.pro]
    key_rpm = 10
    key_tpm = 600
    tenant_rpm = 4
    tenant_tpm = 6000

    [tiers.pro.models.gpt-4o-mini]
    rpm = 100
    tpm = 300

    [tiers.tiny]
    key_tpm = 50

    [[models]]
    id = "llama-3.1-8b-instruct"
    kind = "chat"
    family = "llama3"
    context_length = 1000
    max_output_tokens = 500
    default_max_tokens = 20
    aliases = ["gpt-4o-mini"]
    workers = ["http://127.0.0.1:9"]

    [[models]]
    id = "other"
    kind = "chat"
    default_max_tokens = 10
    workers = ["http://127.0.0.1:9"]
    """
)


def key(
    tenant: str, kid: str = "key_1", rpm: int | None = None, tpm: int | None = None
) -> KeyRecord:
    return KeyRecord(kid, tenant, "pk-prov-...", None, rpm, tpm, 0, None)


class Env:
    def __init__(self, cfg: Config, table: StateTable) -> None:
        self.cfg = cfg
        self.table = table
        self.telemetry = Telemetry(table)
        self.gate = Gate(cfg, table, self.telemetry)
        self.catalog = Catalog(cfg, ConfigAdapters(cfg))

    def chat(self, k: KeyRecord, model: str = "gpt-4o-mini", **body: object) -> Call:
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **body}
        req = decode(orjson.dumps(body), ChatRequest)
        res = self.catalog.resolve(req.model, k)
        return Call("/v1/chat/completions", "chat", k, res, "r", model, plan_chat(req, res), req)

    def completion(self, k: KeyRecord, prompt: object, **body: object) -> Call:
        body = {"model": "gpt-4o-mini", "prompt": prompt, **body}
        req = decode(orjson.dumps(body), CompletionRequest)
        res = self.catalog.resolve(req.model, k)
        plan = plan_completion(req, res)
        return Call("/v1/completions", "completion", k, res, "r", req.model, plan, req)


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[[str], Env]]:
    n = 0

    def make(text: str = CONFIG) -> Env:
        nonlocal n
        n += 1
        return Env(parse(text), StateTable(str(tmp_path / f"state-{n}.bin")))

    yield make


@pytest.fixture
def env(make_env: Callable[[str], Env]) -> Env:
    return make_env(CONFIG)
