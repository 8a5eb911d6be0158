"""`provocapi probe` as a user runs it: the table, --json, the exit codes; and README's
table of probes in step with the probes that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.procs import run_cli
from provocapi.audit.registry import PROBES
from provocapi.audit.verdicts import VERDICTS
from provocapi.netutil import free_port

from .conftest import Served, StartSim, path_of_readme


def test_probe_prints_a_table_writes_json_and_exits_0(start_sim: StartSim, tmp_path: Path) -> None:
    url = start_sim("cli-model", "--openai", "--ignore-fields", "n")
    out = tmp_path / "verdicts.json"
    res = run_cli("probe", url, "--json", str(out))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["PROBE", "VERDICT", "EVIDENCE"]
    for p in PROBES:
        assert any(line.startswith(p.name + " ") for line in lines), p.name
    assert re.search(r"^n\s+silently ignored\s+n=2 gave 1 choice", res.stdout, re.M)
    report = json.loads(out.read_text())
    assert report["model"] == "cli-model"  # the first model listed
    by_name = {p["probe"]: p for p in report["probes"]}
    assert [p["probe"] for p in report["probes"]] == [p.name for p in PROBES]
    assert by_name["n"]["verdict"] == "silently ignored"
    assert by_name["chat"]["verdict"] == "works"
    assert sum(report["counts"].values()) == len(PROBES)


def test_probe_of_nothing_exits_3() -> None:
    res = run_cli("probe", f"http://127.0.0.1:{free_port()}/v1", "--model", "m")
    assert res.returncode == 3
    assert "did not answer" in res.stderr


def test_probe_of_a_server_without_a_model_list_exits_2(start_sim: StartSim) -> None:
    # the simulator answers, but not under /models without /v1: a wrong URL, not a dead one
    url = start_sim("cli-model").removesuffix("/v1")
    res = run_cli("probe", url)
    assert res.returncode == 2, res.stderr
    assert "GET /models answered 404" in res.stderr and "give --model" in res.stderr


def test_probe_with_a_refused_key_exits_2(gateway: Served) -> None:
    gw, _keys = gateway
    res = run_cli("probe", gw.url + "/v1", "--api-key", "pk-prov-not-a-key")
    assert res.returncode == 2, res.stderr
    assert "API key was refused" in res.stderr and "401" in res.stderr
    assert not res.stdout  # no table of verdicts that would only measure the refusal


def test_probe_with_an_unwritable_json_path_exits_2_before_probing(tmp_path: Path) -> None:
    nowhere = tmp_path / "missing" / "verdicts.json"
    res = run_cli("probe", f"http://127.0.0.1:{free_port()}/v1", "--model", "m",
                  "--json", str(nowhere))  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "cannot write --json" in res.stderr and "Traceback" not in res.stderr
    assert not res.stdout


def test_probe_of_a_bad_url_exits_2() -> None:
    res = run_cli("probe", "ftp://example/v1")
    assert res.returncode == 2
    assert "base URL" in res.stderr


def test_the_readme_table_lists_every_probe_and_verdict() -> None:
    text = path_of_readme().read_text()
    section = text.split("Auditing a move: probe and compare\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = [re.match(r"\| `([a-z0-9_]+)`", line).group(1) for line in rows]  # type: ignore[union-attr]
    assert named == [p.name for p in PROBES]
    for verdict in VERDICTS:
        assert verdict in section
