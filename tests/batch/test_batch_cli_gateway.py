"""`provocapi batch` against the gateway itself (tests/batch_cli checks the CLI's
details against an OpenAI-shaped double; this is the same CLI on the real routes),
and batch lines kept apart from the tenant's online limits."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from harness.procs import create_key, subprocess_env

from .conftest import CHAT, BatchStack, wait_final
from .test_batch_e2e import chat_line, jsonl


def _cli(
    stack: BatchStack, *args: str, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(
        {"OPENAI_BASE_URL": f"{stack.gateway.url}/v1", "OPENAI_API_KEY": stack.key}
    )
    return subprocess.run(
        [sys.executable, "-m", "provocapi", "batch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_submit_wait_get_list_through_the_gateway(bstack: BatchStack, tmp_path: Path) -> None:
    lines = [chat_line(f"cli-{i}", f"line {i}") for i in range(6)]
    lines.append(chat_line("cli-bad", bogus_field=1))  # the endpoint refuses it: 400
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl(lines))

    sub = _cli(
        bstack, "submit", str(src), "--endpoint", "/v1/chat/completions",
        "--wait", "--progress", "plain", "--poll", "0.2",
    )  # fmt: skip
    assert sub.returncode == 0, sub.stderr
    batch_id = sub.stdout.split()[0]  # with --wait, the id comes first
    assert batch_id.startswith("batch_"), sub.stdout
    assert "completed" in sub.stdout + sub.stderr

    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    got = _cli(bstack, "get", batch_id, "--output", str(out), "--errors", str(err), "--json")
    assert got.returncode == 0, got.stderr
    batch = json.loads(got.stdout)
    assert batch["id"] == batch_id and batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 7, "completed": 6, "failed": 1}
    ok = [json.loads(x) for x in out.read_text().splitlines()]
    bad = [json.loads(x) for x in err.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in ok) == sorted(f"cli-{i}" for i in range(6))
    assert [r["custom_id"] for r in bad] == ["cli-bad"]
    assert bad[0]["response"]["status_code"] == 400

    listed = _cli(bstack, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert batch_id in listed.stdout

    gone = _cli(bstack, "get", "batch_does_not_exist")
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr


def test_batch_lines_do_not_draw_on_the_online_limits(bstack: BatchStack, tmp_path: Path) -> None:
    """A tenant allowed one online request a minute still runs a batch of four lines at
    once, and its one online request is still there afterwards."""
    key = create_key(bstack.gateway.data_dir, "rationed")
    client = openai.OpenAI(base_url=f"{bstack.gateway.url}/v1", api_key=key, max_retries=0)
    deadline = time.monotonic() + 10
    while True:  # keys apply within a second in every process
        try:
            client.models.list()
            break
        except openai.AuthenticationError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    data = jsonl([chat_line(f"r-{i}", f"line {i}") for i in range(4)])
    file_id = client.files.create(file=("in.jsonl", data), purpose="batch").id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_final(client, batch.id, timeout_s=20.0)
    assert done.status == "completed", done
    assert done.request_counts is not None and done.request_counts.completed == 4
    reply = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "still mine"}]
    )
    assert reply.choices[0].message.content
    with pytest.raises(openai.RateLimitError):  # and the online limit does hold
        client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "2"}])
