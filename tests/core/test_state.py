"""The shared state table: one truth across processes that map the same file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from provocapi._core import StateTable, StateTableError

# Each child maps the table itself, waits for a common start time (so the
# processes really overlap), does its work and prints a JSON result.
CHILD = """
import json, sys, time
from provocapi._core import StateTable
path, capacity, start, job = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
t = StateTable(path, capacity)
while time.time() < start:
    pass
if job == "add":
    s = t.slot("hits")
    for _ in range(10_000):
        t.add(s, 0, 1)
    print(json.dumps(s))
elif job == "insert":
    print(json.dumps([t.slot(f"key-{i}") for i in range(600)]))
"""


def run_children(path: Path, capacity: int, job: str, n: int = 4) -> list[object]:
    start = time.time() + 1.0  # after every interpreter has started
    args = [str(path), str(capacity), str(start), job]
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        results.append(json.loads(out))
    return results


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.bin"


def test_processes_add_to_one_counter_exactly(path: Path) -> None:
    slots = run_children(path, 1024, "add")
    assert len(set(slots)) == 1
    t = StateTable(str(path), 1024)
    s = t.find("hits")
    assert s == slots[0]
    assert t.get(s, 0) == 4 * 10_000


def test_processes_inserting_the_same_keys_agree(path: Path) -> None:
    # 600 keys in 1024 slots: long probe chains, so claims race on shared slots.
    results = run_children(path, 1024, "insert")
    assert all(r == results[0] for r in results)
    t = StateTable(str(path), 1024)
    entries = t.entries("key-")
    assert len(entries) == 600
    assert dict(entries) == {f"key-{i}": s for i, s in enumerate(results[0])}


def test_field_operations(path: Path) -> None:
    t = StateTable(str(path), 64)
    assert (t.path, t.capacity, StateTable.FIELDS) == (str(path), 64, 32)
    s = t.slot("rl:tenant-a")
    assert t.slot("rl:tenant-a") == s
    assert t.find("rl:tenant-a") == s
    assert t.find("rl:nobody") is None
    assert t.add(s, 0, 5) == 5
    assert t.add(s, 0, -2) == 3
    t.set(s, 1, 100)
    assert t.get(s, 1) == 100
    assert t.compare_and_swap(s, 1, 100, 90) is True
    assert t.compare_and_swap(s, 1, 100, 80) is False
    assert t.get(s, 1) == 90
    assert t.fetch_max(s, 2, 7) == 0
    assert t.fetch_max(s, 2, 3) == 7
    assert t.get(s, 2) == 7
    t.set(s, 31, -(2**63))
    assert t.get(s, 31) == -(2**63)


def test_entries_and_a_second_mapping(path: Path) -> None:
    a = StateTable(str(path), 64)
    b = StateTable(str(path), 64)
    sx, sy = a.slot("m:x"), a.slot("m:y")
    a.slot("rl:z")
    assert sorted(b.entries("m:")) == sorted([("m:x", sx), ("m:y", sy)])
    assert len(b.entries()) == 3
    b.add(sx, 4, 11)
    assert a.get(sx, 4) == 11


def test_default_capacity(path: Path) -> None:
    t = StateTable(str(path))
    assert t.capacity == 8192
    assert path.stat().st_size == 64 + 8192 * 512


def test_errors(path: Path) -> None:
    t = StateTable(str(path), 2)
    s = t.slot("a")
    t.slot("b")
    with pytest.raises(StateTableError, match="full"):
        t.slot("c")
    assert t.find("c") is None
    with pytest.raises(StateTableError, match="longer than 240"):
        t.find("k" * 241)
    t2 = StateTable(str(path.with_name("other.bin")), 4)
    t2.slot("é" * 120)  # 240 bytes: the limit is in UTF-8 bytes
    with pytest.raises(StateTableError):
        t2.slot("é" * 121)
    with pytest.raises(StateTableError):
        t.get(s, 32)
    with pytest.raises(StateTableError):
        t.get(s, -1)
    with pytest.raises(StateTableError):
        t.add(2, 0, 1)
    with pytest.raises(StateTableError):
        t.add(-1, 0, 1)
    with pytest.raises(OverflowError):
        t.set(s, 0, 2**63)


def test_file_errors(path: Path, tmp_path: Path) -> None:
    StateTable(str(path), 16)
    with pytest.raises(StateTableError, match="capacity 16"):
        StateTable(str(path), 32)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(64 + 16 * 512))
    with pytest.raises(StateTableError, match="magic"):
        StateTable(str(junk), 16)
    with pytest.raises(StateTableError):
        StateTable(str(tmp_path / "zero.bin"), 0)
    with pytest.raises(FileNotFoundError):
        StateTable(str(tmp_path / "no-such-dir" / "state.bin"), 16)
