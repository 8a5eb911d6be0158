"""Our own gateway, probed: no probe may come out "silently ignored" or "broken".

The gateway runs the embedded catalogue on simulated workers."""

from __future__ import annotations

import pytest
from provocapi.audit.context import Ctx
from provocapi.audit.probe import run_all
from provocapi.audit.registry import PROBES
from provocapi.audit.verdicts import BROKEN, IGNORED, NOT_MEASURED, SKIPPED, WORKS, Outcome
from provocapi.audit.wire import Endpoint

from .conftest import Served

MODEL = "llama-3.1-8b-instruct"
EMBEDDING = "nomic-embed-v1.5"  # allows `dimensions` (Matryoshka)


@pytest.fixture(scope="module")
def outcomes(gateway: Served) -> dict[str, Outcome]:
    gw, keys = gateway
    ctx = Ctx(Endpoint(gw.url + "/v1", keys["prober"]), MODEL, EMBEDDING)
    return {o.probe: o for o in run_all(ctx)}


@pytest.mark.parametrize("probe", [p.name for p in PROBES if p.name != "rate_limit"])
def test_no_probe_is_ignored_or_broken(outcomes: dict[str, Outcome], probe: str) -> None:
    o = outcomes[probe]
    assert o.verdict not in (IGNORED, BROKEN, SKIPPED, NOT_MEASURED), o


def test_a_provoked_429_carries_retry_after_and_ratelimit_headers(
    gateway: Served,
) -> None:
    gw, keys = gateway
    ctx = Ctx(Endpoint(gw.url + "/v1", keys["limited"]), MODEL, provoke_429=True)
    (rate_limit,) = [p for p in PROBES if p.name == "rate_limit"]
    (o,) = run_all(ctx, (rate_limit,))
    assert o.verdict == WORKS, o
    assert "x-ratelimit-" in o.evidence
