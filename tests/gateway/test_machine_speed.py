"""bench/machine_speed.py: the probe the benches print beside their figures."""

from __future__ import annotations

from harness.scripts import load_script


def test_the_probe_measures_cpu_time_of_the_workload_on_the_named_core() -> None:
    mod = load_script("bench/machine_speed.py", "bench_machine_speed")
    ms = mod.probe_ms(core=0, times=1)
    # the workload is some 10^6 interpreted steps: neither free nor seconds long
    assert 20 < ms < 5_000, ms
    assert mod.describe(core=0).endswith(" ms")
