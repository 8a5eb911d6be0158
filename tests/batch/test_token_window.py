"""The runner's per-tenant token window keeps only the last minute, whether or not the
tenant has a batch_tpm (a 50,000-line batch must not grow the runner's memory)."""

from __future__ import annotations

import pytest
from provocapi.batch import priority
from provocapi.batch.priority import WINDOW_S, TokenWindow


def test_the_window_forgets_what_is_older_than_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(priority.time, "monotonic", lambda: now[0])
    window = TokenWindow()
    for _ in range(10_000):  # one line every 10 ms, nobody asking `used`
        window.add("t", 3)
        now[0] += 0.01
    kept = len(window._used["t"])
    assert kept <= WINDOW_S / 0.01 + 1, kept
    assert window.used("t") == 3 * len(window._used["t"]) > 0
    now[0] += WINDOW_S + 1
    assert window.used("t") == 0 and window.used("nobody") == 0
