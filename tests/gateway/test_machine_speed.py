"""bench/machine_speed.py: the probe the benches print beside their figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PROBE = Path(__file__).resolve().parents[2] / "bench" / "machine_speed.py"


def test_the_probe_measures_cpu_time_of_the_workload_on_the_named_core() -> None:
    spec = importlib.util.spec_from_file_location("bench_machine_speed", PROBE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ms = mod.probe_ms(core=0, times=1)
    # the workload is some 10^6 interpreted steps: neither free nor seconds long
    assert 20 < ms < 5_000, ms
    assert mod.describe(core=0).endswith(" ms")
