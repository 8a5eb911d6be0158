"""Schemathesis over the gateway's own /openapi.json: every route, stateless and stateful.

The verdict, for every generated request: no 500; a 502-504 only for a call to
FAULTY, the model whose worker fails half its calls on purpose (the injected fault);
the response matches the schema the document declares for its status; a request the
document calls valid is not refused (positive data acceptance: only 2xx, 401, 403,
404, 409, 429 and 5xx may answer it). The cross-field rules JSON Schema cannot say
live in `hooks.py`.

Sized by PROVOCAPI_FUZZ_EXAMPLES (default: about a minute on two cores), derandomized
so the test command is reproducible. The last test prints how deep the generated
requests reached: most must end at 200, few at 404 `model_not_found`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from provocapi import route_errors
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from . import hooks
from .conftest import EXAMPLES, FAULTY, ProofStack

CHECKS = [
    hooks.server_errors_only_from_faults,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]
STATELESS_EXAMPLES = EXAMPLES or 40
STATEFUL_EXAMPLES = (EXAMPLES or 25) * 4

# (path, method, status, code) of every answer to a case the document calls valid
SEEN: Counter[tuple[str, str, int, str]] = Counter()
NEGATIVE: Counter[int] = Counter()  # statuses of the cases it calls invalid


def _headers(stack: ProofStack, case: Case) -> dict[str, str]:
    secret = stack.admin_key if hooks.needs_admin(case) else stack.key
    return {"Authorization": f"Bearer {secret}"}


def _tally(case: Case, response: Response) -> None:
    if not hooks.positive(case):
        NEGATIVE[response.status_code] += 1
        return
    code = "-"
    if response.status_code >= 400:
        try:
            code = str(response.json()["error"]["code"])
        except Exception:  # a body without the envelope shows as "?"
            code = "?"
    SEEN[(case.path, case.method.upper(), response.status_code, code)] += 1


@pytest.fixture(scope="session")
def api_schema(proof_stack: ProofStack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{proof_stack.url}/openapi.json")


def _call(stack: ProofStack, case: Case) -> None:
    hooks.prepare(case)
    response = case.call(headers=_headers(stack, case), timeout=30)
    _tally(case, response)
    case.validate_response(response, checks=CHECKS)


# The documented routes; each runs as its own test, positive and negative cases mixed.
ROUTES = sorted(route_errors.ROUTE_ERRORS)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_every_route(
    route: tuple[str, str], api_schema: schemathesis.BaseSchema, proof_stack: ProofStack
) -> None:
    path, method = route
    op = api_schema[path][method]
    cases = st.one_of(
        op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=cases)
    @settings(
        max_examples=STATELESS_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: the failing case itself is reported
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        _call(proof_stack, case)

    run()


def test_stateful_links(proof_stack: ProofStack, tmp_path: Path) -> None:
    """create → get → delete for files, batches and adapters, along the document's links.

    Schemathesis' own stateful runner (`st run --phases stateful`), which follows links
    whose next step depends on the server's answers; the same checks and hooks."""
    report = tmp_path / "stateful.ndjson"
    cmd = [
        str(Path(sys.executable).with_name("st")), "run", f"{proof_stack.url}/openapi.json",
        "--phases", "stateful", "--checks", ",".join(c.__name__ for c in CHECKS),
        "-H", f"Authorization: Bearer {proof_stack.key}", "--exclude-path", "/admin/reload",
        "--seed", "1", "--max-examples", str(STATEFUL_EXAMPLES), "--workers", "1",
        "--request-timeout", "30", "--no-color", "--report", "ndjson",
        "--report-ndjson-path", str(report),
    ]  # fmt: skip
    tests_dir = Path(__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(tests_dir), "SCHEMATHESIS_HOOKS": "proof.st_hooks"}
    run = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False
    )  # its crash cache goes to tmp_path
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    links = re.search(r"API Links:\s+(\d+) covered", run.stdout)
    assert links and int(links.group(1)) >= 10, "the run followed too few links"


def test_generated_requests_reach_the_relay(proof_stack: ProofStack) -> None:
    """Most generated calls end at 200 or a 4xx past the model lookup, not at 404
    model_not_found (the document's model enums), and the gateway is still serving."""
    if not SEEN and not NEGATIVE:
        pytest.skip("runs after test_every_route, on what it saw")
    total = sum(SEEN.values())
    print(f"\nschemathesis: {total} valid cases, {sum(NEGATIVE.values())} invalid: {NEGATIVE}")
    for (path, method, status, code), n in sorted(SEEN.items()):
        print(f"  {n:6d}  {status} {code:28s} {method} {path}")
    assert total > 0
    generate = [k for k in SEEN if k[0] in ("/v1/chat/completions", "/v1/completions",
                                            "/v1/embeddings")]  # fmt: skip
    calls = sum(SEEN[k] for k in generate)
    ok = sum(SEEN[k] for k in generate if k[2] == 200)
    not_found = sum(SEEN[k] for k in generate if k[3] == "model_not_found")
    assert calls and ok / calls > 0.5, f"only {ok} of {calls} generation calls reached 200"
    assert not_found / calls < 0.1
    faulted = sum(n for k, n in SEEN.items() if k[2] in (502, 503, 504))
    print(f"  502-504 from the faulty worker ({FAULTY}): {faulted}")
    assert faulted, "the injected fault was never met"
    with httpx2.Client(trust_env=False, timeout=10) as c:
        assert c.get(f"{proof_stack.url}/health").status_code == 200
