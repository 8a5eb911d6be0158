"""The error catalogue: each entry builds, and its Retry-After policy is kept."""

from __future__ import annotations

import string

import pytest
from provocapi import error_catalog, proxy
from provocapi.errors import ApiError, ErrorSpec, RetryAfter
from provocapi.routing.router import no_ready_worker
from provocapi.upstream import worker_error

ENTRIES = {n: v for n, v in vars(error_catalog).items() if isinstance(v, ErrorSpec)}


def _filled(spec: ErrorSpec) -> ApiError:
    names = {f for _, f, _, _ in string.Formatter().parse(spec.template) if f}
    fields: dict[str, object] = {n: 1.5 if n.endswith("_s") else "x" for n in names}
    if spec.retry_after is RetryAfter.COMPUTED:
        return spec.build(retry_after_s=3, **fields)
    return spec.build(**fields)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_entry_builds_openai_s_envelope(name: str) -> None:
    spec = ENTRIES[name]
    err = _filled(spec)
    assert err.status == spec.status and 400 <= err.status < 600
    assert err.code == spec.code and err.code.islower()
    assert err.type == (spec.type or err.type) and err.type
    assert "{" not in err.message, err.message
    hdrs = dict(err.response_headers(9))
    if spec.retry_after is RetryAfter.NONE:
        assert b"retry-after" not in hdrs
    elif spec.retry_after is RetryAfter.CONFIGURED:
        assert hdrs[b"retry-after"] == b"9"
    elif spec.retry_after is RetryAfter.COMPUTED:
        assert hdrs[b"retry-after"] == b"3"
    else:
        assert hdrs[b"retry-after"] == str(spec.retry_after).encode()


def test_a_computed_retry_after_must_be_given_and_only_there() -> None:
    with pytest.raises(TypeError):
        error_catalog.RATE_LIMITED.build(scope="s", unit="u", limit=1, used=1, asked=1, wait="1s")
    with pytest.raises(TypeError):
        error_catalog.UPSTREAM_TIMEOUT.build(retry_after_s=2)


def test_no_healthy_worker_is_one_answer_whichever_path_raises_it() -> None:
    # the router (nothing ready), the proxy (worker starting), the upstream (connect refused)
    errs = [no_ready_worker("m"), proxy.worker_starting()]
    errs.append(error_catalog.NO_HEALTHY_WORKER.build(what="this model (refused)"))
    for err in errs:
        assert (err.status, err.code, err.type) == (503, "no_healthy_worker", "server_error")
        assert err.retryable
        assert dict(err.response_headers(7))[b"retry-after"] == b"7"
        assert [k for k, _ in err.response_headers(7)].count(b"retry-after") == 1


def test_worker_statuses_stay_within_the_declared_ones() -> None:
    assert worker_error(422, b'{"message": "bad"}').status == 422
    assert worker_error(400, b"{}").status == 400
    assert worker_error(409, b"{}").status == 400  # not declared: the catalogue's own status
    overloaded = worker_error(429, b"{}")
    assert overloaded.status == 503 and overloaded.code == "worker_overloaded"
    assert dict(overloaded.response_headers(4))[b"retry-after"] == b"4"
    assert worker_error(500, b"{}").code == "upstream_error"
