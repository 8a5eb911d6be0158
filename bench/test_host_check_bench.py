"""What keyless mode's Host check (loopback.py, gateway._addressed_here) costs a
call over loopback, in a hot loop (µs).

    .venv/bin/python -m pytest bench/test_host_check_bench.py --benchmark-enable
    PYTHONPATH=<an older checkout>/python .venv/bin/python -m pytest \\
        bench/test_host_check_bench.py --benchmark-enable   # the same before a change

The request is the `openai` Python SDK's (16 headers, Host first), over 127.0.0.1,
as `provocapi serve --no-auth` sees it; `Host` is `localhost:8080` (the SDK's default
base URL) or `127.0.0.1:8080`. Each checks that the call was let through, and that a
Host naming another machine is still refused.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from provocapi.errors import ApiError
from provocapi.gateway import _addressed_here
from test_cors_bench import HEADERS

# the openai Python SDK's headers (test_cors_bench.py), Host put first below
TAIL = [(name, value) for name, value in HEADERS if name != b"host"]


def _request(host: bytes) -> Any:
    scope = {
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 51234),
        "headers": [(b"host", host), *TAIL],
    }
    return SimpleNamespace(scope=scope)


@pytest.mark.parametrize("host", [b"localhost:8080", b"127.0.0.1:8080"])
def test_a_local_host_is_let_through(benchmark: Any, host: bytes) -> None:
    req = _request(host)
    assert benchmark(_addressed_here, req) is None
    with pytest.raises(ApiError):
        _addressed_here(_request(b"evil.example:8080"))
