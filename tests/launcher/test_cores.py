"""`provocapi serve --workers N` on fewer usable CPUs than N says so in its banner, with
what sharing a core costs (cores.py); usable CPUs are the affinity mask narrowed by a
cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), read from files laid out here
the way the kernel lays them out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.gateway import Gateway
from harness.waiting import poll
from provocapi import cores


def _cgroup(tmp_path: Path, proc_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "sys-fs-cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_line + "\n")
    return root, proc


@pytest.mark.parametrize(
    ("proc_line", "files", "quota"),
    [
        ("0::/app.slice/x", {"app.slice/x/cpu.max": "150000 100000\n"}, 1.5),
        ("0::/app.slice/x", {"app.slice/x/cpu.max": "max 100000\n"}, None),
        ("0::/", {"cpu.max": "50000 100000\n"}, 0.5),  # a namespaced container sees "/"
        ("0::/gone", {}, None),
        (
            "4:cpu,cpuacct:/docker/abc",
            {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n",
             "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n"},
            2.0,
        ),
        (
            "1:cpu:/",
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            None,
        ),
        ("1:cpu:/", {"cpu/cpu.cfs_quota_us": "junk\n", "cpu/cpu.cfs_period_us": "1\n"}, None),
    ],
)  # fmt: skip
def test_the_cgroup_quota_is_read_from_v2_and_v1_files(
    tmp_path: Path, proc_line: str, files: dict[str, str], quota: float | None
) -> None:
    root, proc = _cgroup(tmp_path, proc_line, files)
    assert cores.cgroup_quota(root, proc) == quota


def test_a_quota_narrows_the_affinity_mask_rounded_up(tmp_path: Path) -> None:
    mask = len(os.sched_getaffinity(0))
    root, proc = _cgroup(tmp_path, "0::/", {"cpu.max": "50000 100000\n"})
    assert cores.usable_cpus(root, proc) == 1  # half a CPU is still one to run on
    root, proc = _cgroup(tmp_path / "none", "0::/", {"cpu.max": "max 100000\n"})
    assert cores.usable_cpus(root, proc) == mask
    root, proc = _cgroup(tmp_path / "big", "0::/", {"cpu.max": f"{(mask + 8) * 1000} 1000\n"})
    assert cores.usable_cpus(root, proc) == mask  # a quota above the mask adds no CPU


def test_the_note_appears_only_when_workers_outnumber_the_cpus() -> None:
    assert cores.describe_sharing(1, 1) is None
    assert cores.describe_sharing(2, 2) is None
    line = cores.describe_sharing(3, 2)
    assert line is not None
    assert line.startswith("3 worker processes on 2 usable CPUs:")
    assert "1.15x" in line
    assert "2 worker processes on 1 usable CPU:" in (cores.describe_sharing(2, 1) or "")


@pytest.fixture
def one_cpu() -> Iterator[None]:
    """This process (and what it starts meanwhile) on one CPU; the mask restored after."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.usefixtures("one_cpu")
def test_serve_with_two_workers_on_one_cpu_says_what_sharing_costs(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gw", workers=2)
    gw.launch()  # the launcher and all it starts inherit the one-CPU mask
    try:
        gw.wait_ready()
        # the banner is printed before Granian starts; its output may lag the health check
        out = poll(gw.output, lambda o: "browsers:" in o, 10)  # the line after
        assert "    cores:      2 worker processes on 1 usable CPU:" in out, out
        assert "(2 worker process(es))" in out
    finally:
        gw.stop()


def test_serve_with_one_worker_says_nothing_of_cores(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gw", workers=1)
    try:
        gw.start()
        out = poll(gw.output, lambda o: "browsers:" in o, 10)
        assert "browsers:" in out, out
        assert "cores:" not in out
    finally:
        gw.stop()
