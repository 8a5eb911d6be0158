"""`provocapi compare` against two simulators whose differences the test sets up (B is
slower, counts prompts with a real tokenizer instead of the estimate, and breaks tool
calls), then expects the report to find each; and the shipped golden set run through our
gateway on both sides."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from harness.procs import run_cli
from provocapi.audit import golden

from .conftest import Served, StartSim

MODEL = "cmp-model"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
CASES = [
    {"id": "prose", "messages": [{"role": "user", "content": "Tell me about the sea."}]},
    {"id": "classify", "category": "classification", "expect_substring": "zzz-never",
     "messages": [{"role": "user", "content": "Positive or negative: I love it."}]},
    {"id": "tool", "expect_tool": "get_weather", "tools": [WEATHER], "tool_choice": "required",
     "messages": [{"role": "user", "content": "Weather in Oslo?"}]},
    {"id": "tool-auto", "expect_tool": "get_weather", "tools": [WEATHER],
     "messages": [{"role": "user", "content": "Is it raining in Rome?"}]},
    {"id": "json", "messages": [{"role": "user", "content": "Jonas, 41."}],
     "response_format": {"type": "json_schema",
                         "json_schema": {"name": "p", "strict": True, "schema": PERSON}}},
]  # fmt: skip


@pytest.fixture
def golden_file(tmp_path: Path) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps({"model": "x", **c}) + "\n" for c in CASES))
    return path


def _compare(a: str, b: str, golden_file: Path, out: Path, *flags: str) -> dict:  # type: ignore[type-arg]
    res = run_cli(
        "compare", "--a", a, "--b", b, "--golden", str(golden_file), "--a-model", MODEL,
        "--b-model", MODEL, "--out", str(out), *flags, timeout_s=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "60/60" in res.stderr or "requests" in res.stderr  # the progress bar
    return json.loads((out / "report.json").read_text())  # type: ignore[no-any-return]


def test_compare_finds_what_the_test_made_different(
    start_sim: StartSim, golden_file: Path, tmp_path: Path
) -> None:
    a = start_sim(MODEL, "--openai")
    b = start_sim(
        MODEL, "--openai", "--ttft-ms", "60", "--token-delay-ms", "1",
        "--tokenizer", "llama3", "--broken-fields", "tools",
    )  # fmt: skip
    out = tmp_path / "report"
    doc = _compare(a, b, golden_file, out, "--repeat", "3", "--concurrency", "2")
    o = doc["overall"]
    text = "\n".join(o["findings"])
    # slower
    assert o["b"]["ttft_ms"]["p50"] > o["a"]["ttft_ms"]["p50"] + 40
    assert o["b"]["latency_ms"]["p99"] > o["a"]["latency_ms"]["p99"]
    assert "B is slower" in text
    # another tokenizer's count of the same prompts
    assert o["prompt_token_ratio"] is not None and not 0.95 <= o["prompt_token_ratio"] <= 1.05
    assert "prompt tokens differ" in text
    # B's tool calls do not parse
    assert o["a"]["tool_valid_rate"] == 1.0
    assert o["b"]["tool_valid_rate"] == 0.0
    assert o["a"]["tool_call_rate"] == o["b"]["tool_call_rate"] == 1.0
    assert "valid tool calls: A 100%, B 0%" in text
    assert o["a"]["expect_tool_rate"] == 1.0
    # the same deterministic simulator otherwise: prose and JSON alike
    by_id = {c["id"]: c for c in doc["cases"]}
    assert by_id["prose"]["exact_match_rate"] == 1.0
    assert by_id["tool"]["exact_match_rate"] == 0.0
    assert 0 < by_id["tool"]["edit_distance"] <= 1
    assert by_id["json"]["a"]["json_valid_rate"] == by_id["json"]["b"]["json_valid_rate"] == 1.0
    assert by_id["classify"]["a"]["substring_rate"] == 0.0
    assert by_id["prose"]["a"]["runs"] == 3
    # the outputs side by side, and the charts
    md = (out / "report.md").read_text()
    for case in CASES:
        assert f"| {case['id']} |" in md
    assert by_id["prose"]["output_a"][:60] in md  # side by side, cut at 120 chars
    for name in ("latency.svg", "ttft.svg", "prompt_tokens.svg", "completion_tokens.svg"):
        root = ET.parse(out / name).getroot()
        assert root.tag.endswith("svg")
        assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) > 2


def test_identical_sides_show_no_difference(
    start_sim: StartSim, golden_file: Path, tmp_path: Path
) -> None:
    a = start_sim(MODEL, "--openai")
    doc = _compare(a, a, golden_file, tmp_path / "same")
    o = doc["overall"]
    assert o["exact_match_rate"] == 1.0
    assert o["edit_distance"] == 0.0
    assert o["prompt_token_ratio"] == 1.0
    assert not [f for f in o["findings"] if "tokens differ" in f or "valid" in f]


def test_failures_are_counted_and_exit_1(
    start_sim: StartSim, golden_file: Path, tmp_path: Path
) -> None:
    a = start_sim(MODEL, "--openai")
    b = start_sim(MODEL, "--openai", "--refuse-fields", "response_format")
    res = run_cli(
        "compare", "--a", a, "--b", b, "--golden", str(golden_file), "--a-model", MODEL,
        "--b-model", MODEL, "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert res.returncode == 1
    o = json.loads((tmp_path / "r" / "report.json").read_text())["overall"]
    assert o["b"]["errors"] == 1 and o["a"]["errors"] == 0
    assert any("B failed 1 of 5" in f and "response_format" in f for f in o["findings"])


def test_a_bad_golden_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model": "m", "messages": []}\n{"model": "m"}\n')
    res = run_cli("compare", "--a", "http://127.0.0.1:9/v1", "--b", "http://127.0.0.1:9/v1",
                  "--golden", str(bad))  # fmt: skip
    assert res.returncode == 2
    assert "line 2" in res.stderr


DOWN = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"model": "m", "messages": []}\n\xff\xfe\n', "line 2: not UTF-8"),
        (b'{"model": "m", "messages": [], "expect_substring": 5}\n', "expect_substring must"),
        (b'{"model": "m", "messages": [], "expect_tool": ["f"]}\n', "expect_tool must"),
    ],
)
def test_a_golden_file_the_scoring_cannot_use_is_a_usage_error(
    tmp_path: Path, content: bytes, said: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    res = run_cli("compare", "--a", DOWN, "--b", DOWN, "--golden", str(bad))
    assert res.returncode == 2, res.stderr
    assert said in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("flags", [("--timeout", "0"), ("--timeout", "nan"), ("--repeat", "0")])
def test_a_bad_number_is_a_usage_error(golden_file: Path, flags: tuple[str, str]) -> None:
    res = run_cli("compare", "--a", DOWN, "--b", DOWN, "--golden", str(golden_file), *flags)
    assert res.returncode == 2, res.stderr
    assert "must be" in res.stderr and not res.stdout


def test_an_unwritable_out_is_a_usage_error_before_the_run(
    golden_file: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    res = run_cli("compare", "--a", DOWN, "--b", DOWN, "--golden", str(golden_file),
                  "--out", str(a_file / "report"))  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "cannot write --out" in res.stderr and "Traceback" not in res.stderr
    assert "comparing" not in res.stderr  # refused before any request


def test_the_shipped_golden_set() -> None:
    cases = golden.load(golden.DEFAULT)
    assert len(cases) == 30
    cats = {c.category for c in cases}
    assert {"classification", "extraction", "summarisation", "tool calls", "json",
            "multilingual"} <= cats  # fmt: skip
    tool_models = {c.body["model"] for c in cases if c.expect_tool}
    assert tool_models == {"llama-3.1-8b-instruct", "qwen-2.5-72b-instruct", "mistral-small-3-24b"}


def test_the_shipped_golden_set_through_our_gateway(gateway: Served, tmp_path: Path) -> None:
    gw, keys = gateway
    url = gw.url + "/v1"
    res = run_cli(
        "compare", "--a", url, "--b", url, "--a-key", keys["prober"], "--b-key",
        keys["prober"], "--embedding-model", "bge-m3", "--out", str(tmp_path / "gw"),
        timeout_s=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    o = json.loads((tmp_path / "gw" / "report.json").read_text())["overall"]
    for side in ("a", "b"):
        assert o[side]["errors"] == 0
        assert o[side]["tool_call_rate"] == 1.0
        assert o[side]["tool_valid_rate"] == 1.0
        assert o[side]["expect_tool_rate"] == 1.0
    assert o["exact_match_rate"] == 1.0  # the simulated workers answer deterministically
    assert o["cosine"] == pytest.approx(1.0)
