"""The metrics registry: Prometheus text, summed across processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from provocapi._core import CoreError, Metrics, StateTable

FAMILIES: list[tuple[str, str, str, list[float] | None]] = [
    ("req_total", "counter", "Requests.", None),
    ("inflight", "gauge", "In flight.", None),
    ("lat_seconds", "histogram", "Latency.", [0.1, 1.0, 10.0]),
]

CHILD = """
import json, sys, time
from provocapi._core import CoreError, Metrics, StateTable
path, families, start = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
m = Metrics(StateTable(path, 256))
for f in families:
    m.describe(*f)
c = m.series("req_total", {"worker": "child", "code": "200"})
h = m.series("lat_seconds", {"model": "m"})
while time.time() < start:
    pass
for i in range(1000):
    m.inc(c)
    m.observe(h, (i % 4) * 0.5)  # 0, 0.5, 1.0, 1.5: sum 750 per process
print(json.dumps([c, h]))
"""

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

Labels = tuple[tuple[str, str], ...]


class Exposition:
    """A strict parse of the text format: metadata per family, samples by name and labels."""

    def __init__(self, text: str) -> None:
        self.help: dict[str, str] = {}
        self.type: dict[str, str] = {}
        self.order: list[str] = []
        self.samples: dict[tuple[str, Labels], float] = {}
        assert text.endswith("\n")
        family = ""
        for line in text.splitlines():
            if line.startswith("# HELP "):
                family, _, help_text = line[7:].partition(" ")
                self.help[family] = help_text
                self.order.append(family)
            elif line.startswith("# TYPE "):
                name, _, kind = line[7:].partition(" ")
                assert name == family, "TYPE must follow the family's HELP"
                self.type[name] = kind
            else:
                m = SAMPLE.match(line)
                assert m, f"not a sample line: {line!r}"
                name, raw_labels, value = m.groups()
                assert name == family or (
                    self.type[family] == "histogram"
                    and name in {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
                ), f"{name} outside its family block"
                key = (name, parse_labels(raw_labels or ""))
                assert key not in self.samples, f"duplicate sample {key}"
                self.samples[key] = float(value)

    def get(self, name: str, **labels: str) -> float:
        return self.samples[(name, tuple(sorted(labels.items())))]


def parse_labels(raw: str) -> Labels:
    pairs = []
    pos = 0
    while pos < len(raw):
        m = LABEL.match(raw, pos)
        assert m, f"bad labels {raw!r} at {pos}"
        value = re.sub(r"\\[\\\"n]", lambda e: UNESCAPE[e.group(0)], m.group(2))
        pairs.append((m.group(1), value))
        pos = m.end()
    return tuple(sorted(pairs))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.bin"


def registry(path: Path) -> Metrics:
    m = Metrics(StateTable(str(path), 256))
    for f in FAMILIES:
        m.describe(*f)
    return m


def test_render_parses_back(path: Path) -> None:
    m = registry(path)
    tricky = 'say "hi"\\n\nnext'
    m.inc(m.series("req_total", {"path": tricky, "code": "200"}), 3)
    m.inc(m.series("req_total", {"code": "500", "path": "/v1"}))
    g = m.series("inflight")
    m.gauge_set(g, 2.25)
    m.gauge_add(g, -0.5)
    m.observe(m.series("lat_seconds", {"model": "llama"}), 0.05)
    text = m.render()
    e = Exposition(text)
    assert e.order == ["inflight", "lat_seconds", "req_total"]  # sorted by name
    assert e.type == {"inflight": "gauge", "lat_seconds": "histogram", "req_total": "counter"}
    assert e.help["req_total"] == "Requests."
    assert e.get("req_total", path=tricky, code="200") == 3
    assert e.get("req_total", path="/v1", code="500") == 1
    assert e.get("inflight") == 1.75
    assert m.value(g) == 1.75
    # Labels are sorted in the series text, whatever the dict order.
    assert 'req_total{code="500",path="/v1"} 1\n' in text


def test_histogram_counts_and_sums(path: Path) -> None:
    m = registry(path)
    h = m.series("lat_seconds", {"model": "m"})
    values = [0.05, 0.1, 0.3, 1.0, 2.0, 9.5, 10.0, 50.0, 0.1]
    for v in values:
        m.observe(h, v)
    e = Exposition(m.render())

    def bucket(le: str) -> float:
        return e.get("lat_seconds_bucket", model="m", le=le)

    assert [bucket(le) for le in ("0.1", "1", "10", "+Inf")] == [3, 5, 8, 9]
    assert e.get("lat_seconds_count", model="m") == len(values)
    assert e.get("lat_seconds_sum", model="m") == pytest.approx(sum(values), abs=1e-6)
    with pytest.raises(CoreError):
        m.value(h)


def test_series_from_other_processes_render_here(path: Path) -> None:
    m = registry(path)
    own = m.series("req_total", {"worker": "parent", "code": "200"})
    m.inc(own, 5)
    start = time.time() + 1.0
    args = [str(path), json.dumps(FAMILIES), str(start)]
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    handles = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        handles.append(json.loads(out))
    assert all(h == handles[0] for h in handles)
    e = Exposition(m.render())
    assert e.get("req_total", worker="child", code="200") == 3000
    assert e.get("req_total", worker="parent", code="200") == 5
    assert e.get("lat_seconds_count", model="m") == 3000
    assert e.get("lat_seconds_bucket", model="m", le="0.1") == 750  # the zeros
    assert e.get("lat_seconds_bucket", model="m", le="1") == 2250
    assert e.get("lat_seconds_sum", model="m") == 3 * 750
    # A handle made in another process works here without calling series().
    m.inc(handles[0][0], 1)
    assert m.value(handles[0][0]) == 3001


def test_unknown_families_are_skipped(path: Path) -> None:
    m = registry(path)
    other = Metrics(StateTable(str(path), 256))
    other.describe("secret_total", "counter", "Only here.")
    other.inc(other.series("secret_total"))
    assert "secret_total" not in m.render()
    assert "secret_total 1\n" in other.render()


def test_bad_input_is_value_error(path: Path) -> None:
    m = registry(path)
    c = m.series("req_total")
    g = m.series("inflight")
    for call in (
        lambda: m.describe("bad name", "counter", ""),
        lambda: m.describe("x", "summary", ""),
        lambda: m.describe("x", "gauge", "", [1.0]),
        lambda: m.describe("h", "histogram", "", [1.0, 0.5]),
        lambda: m.describe("h", "histogram", "", [float(i) for i in range(31)]),
        lambda: m.describe("req_total", "gauge", "Requests."),
        lambda: m.series("undescribed"),
        lambda: m.series("lat_seconds", {"le": "1"}),
        lambda: m.series("req_total", {"bad-label": "x"}),
        lambda: m.inc(g),
        lambda: m.inc(c, -1),
        lambda: m.gauge_set(c, 1.0),
        lambda: m.gauge_set(g, float("nan")),
        lambda: m.observe(c, 1.0),
    ):
        with pytest.raises(CoreError):
            call()
    m.describe("req_total", "counter", "Requests.")  # identical: fine
    m.describe("h", "histogram", "", [float(i) for i in range(30)] + [float("inf")])
