"""A failed fault case shows the end of its gateway's log: a fault that only shows up
now and then (a race with a killed worker) must leave its cause in the report."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from harness.gateway import Gateway

LOG_TAIL_CHARS = 12000


def _gateways(item: pytest.Item) -> list[Gateway]:
    """The gateways of the test's fixtures: a Gateway, or a stack holding one as `gw`."""
    found: list[Gateway] = []
    for value in getattr(item, "funcargs", {}).values():
        gw = value if isinstance(value, Gateway) else getattr(value, "gw", None)
        if isinstance(gw, Gateway) and gw not in found:
            found.append(gw)
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and call.when == "call":
        for gw in _gateways(item):
            report.sections.append((f"gateway log tail ({gw.root})", gw.output(LOG_TAIL_CHARS)))
    return report
