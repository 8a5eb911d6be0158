"""Session-wide settings of the test process itself."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    # Every test module, OpenAPI document and reference tokenizer imported by now lives
    # for the whole session: keep it out of the collector's scans. Otherwise each full
    # collection walks some 190,000 objects (120 ms or more, every thread of this
    # process stopped), a pause the timing-sensitive tests would see as the gateway's.
    gc.freeze()
