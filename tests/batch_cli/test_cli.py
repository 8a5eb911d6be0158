"""`provocapi batch ...` against a test double of OpenAI's files and batches API.

The double (double.py) stands in only until the gateway's own batch routes land; every
object it answers is validated against OpenAI's spec, so the CLI is tested against the
API it will meet. The CLI runs as a real process (`python -m provocapi batch`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import signal
import sys
import time
from pathlib import Path

import pytest

from .conftest import KEY, Served, cli, jsonl, start_cli


def _ids(path) -> list[str]:
    return [json.loads(x)["custom_id"] for x in path.read_text().splitlines()]


async def test_submit_prints_the_batch_id_alone(served: Served, tmp_path) -> None:
    ran = await cli(
        served,
        "submit",
        str(jsonl(tmp_path / "in.jsonl", 3)),
        "--endpoint",
        "/v1/chat/completions",
        "--metadata",
        "job=nightly",
    )
    assert ran.code == 0, ran.err
    (batch_id,) = ran.out.split()
    job = served.double.jobs[batch_id]
    assert job.batch["metadata"] == {"job": "nightly"}
    assert job.batch["endpoint"] == "/v1/chat/completions"
    assert ("POST", "/v1/files") in served.double.calls
    uploaded = served.double.files[job.batch["input_file_id"]]
    assert uploaded[0]["purpose"] == "batch"
    assert uploaded[1] == (tmp_path / "in.jsonl").read_bytes()


async def test_submit_wait_draws_a_bar_to_completed(served: Served, tmp_path) -> None:
    served.double.step = 2
    src = jsonl(tmp_path / "in.jsonl", 10)
    ran = await cli(
        served,
        "submit",
        str(src),
        "--endpoint",
        "/v1/chat/completions",
        "--wait",
        "--poll",
        "0.05",
        "--progress",
        "bar",
    )
    assert ran.code == 0, ran.err
    frames = ran.err.split("\r\x1b[2K")[1:]
    assert len(frames) >= 5, ran.err
    assert any(f.startswith("[" + "." * 24 + "] 0/10 lines (0%)") for f in frames), frames
    middle = [f for f in frames if "4/10 lines (40%)" in f]
    assert middle and middle[0].startswith("[" + "#" * 9 + "." * 15 + "]")
    assert "lines/s" in middle[0] and "ETA " in middle[0] and "in_progress" in middle[0]
    last = frames[-1]
    assert last.startswith("[" + "#" * 24 + "] 10/10 lines (100%)") and "completed" in last
    assert "ETA" not in last
    assert ran.out.strip().splitlines()[-1].startswith("download: provocapi batch get batch_")


async def test_plain_lines_when_not_a_terminal(served: Served, tmp_path) -> None:
    served.double.step = 5
    src = jsonl(tmp_path / "in.jsonl", 10)
    ran = await cli(
        served, "submit", str(src), "--endpoint", "/v1/chat/completions", "--wait", "--poll", "0.05"
    )  # stderr is a pipe: auto → plain
    assert ran.code == 0, ran.err
    assert "\r" not in ran.err and "\x1b" not in ran.err
    lines = [ln for ln in ran.err.splitlines() if ": " in ln and "lines" in ln]
    assert [ln.split(": ", 1)[1].split("  ")[0] for ln in lines] == [
        "0/10 lines (0%)",
        "5/10 lines (50%)",
        "10/10 lines (100%)",
    ], ran.err


async def test_bar_on_a_real_terminal(served: Served, tmp_path) -> None:
    served.double.step = 10
    master, slave = pty.openpty()
    src = jsonl(tmp_path / "in.jsonl", 10)
    proc = await start_cli(
        served,
        "submit",
        str(src),
        "--endpoint",
        "/v1/chat/completions",
        "--wait",
        "--poll",
        "0.05",
        stderr=slave,
    )
    os.close(slave)
    _out, _ = await asyncio.wait_for(proc.communicate(), 30)
    seen = b""
    os.set_blocking(master, False)
    try:
        while chunk := os.read(master, 65536):
            seen += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(master)
    assert proc.returncode == 0
    assert b"\r\x1b[2K[" + b"#" * 24 + b"] 10/10 lines (100%)" in seen, seen


async def test_get_downloads_output_and_errors(served: Served, tmp_path) -> None:
    served.double.step = 100
    ran = await cli(
        served,
        "submit",
        str(jsonl(tmp_path / "in.jsonl", 6, bad={1, 4})),
        "--endpoint",
        "/v1/chat/completions",
        "--wait",
        "--poll",
        "0.05",
    )
    assert ran.code == 0, ran.err
    batch_id = ran.out.split()[0]
    out, err = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    got = await cli(served, "get", batch_id, "--output", str(out), "--errors", str(err))
    assert got.code == 0, got.err
    assert "status:       completed" in got.out
    assert "6 total, 4 completed, 2 failed" in got.out
    assert sorted(_ids(out)) == ["r0", "r2", "r3", "r5"]
    assert sorted(_ids(err)) == ["r1", "r4"]
    bad = json.loads(err.read_text().splitlines()[0])
    assert bad["response"]["status_code"] == 400
    assert not list(tmp_path.glob("*.part"))
    as_json = await cli(served, "get", batch_id, "--json")
    assert json.loads(as_json.out)["id"] == batch_id


async def test_get_before_the_end_has_no_output_yet(served: Served, tmp_path) -> None:
    served.double.step = 0
    ran = await cli(
        served, "submit", str(jsonl(tmp_path / "in.jsonl", 2)), "--endpoint", "/v1/chat/completions"
    )
    got = await cli(served, "get", ran.out.strip(), "--output", str(tmp_path / "o.jsonl"))
    assert got.code == 4
    assert "no output file (yet)" in got.err
    assert not (tmp_path / "o.jsonl").exists()


async def test_list_pages_newest_first(served: Served, tmp_path) -> None:
    src = str(jsonl(tmp_path / "in.jsonl", 1))
    ids = []
    for _ in range(3):
        ran = await cli(served, "submit", src, "--endpoint", "/v1/chat/completions")
        ids.append(ran.out.strip())
    listed = await cli(served, "list", "--limit", "2")
    assert listed.code == 0, listed.err
    rows = listed.out.splitlines()
    assert rows[0].startswith("ID ") and [r.split()[0] for r in rows[1:]] == ids[:0:-1]
    assert f"--after {ids[1]}" in listed.err
    rest = await cli(served, "list", "--after", ids[1], "--json")
    assert [b["id"] for b in json.loads(rest.out)["data"]] == [ids[0]]


async def test_cancel(served: Served, tmp_path) -> None:
    served.double.step = 0
    ran = await cli(
        served, "submit", str(jsonl(tmp_path / "in.jsonl", 4)), "--endpoint", "/v1/chat/completions"
    )
    batch_id = ran.out.strip()
    cancelled = await cli(served, "cancel", batch_id)
    assert cancelled.code == 0, cancelled.err
    assert cancelled.out.strip() == f"{batch_id}: cancelling"
    assert ("POST", f"/v1/batches/{batch_id}/cancel") in served.double.calls
    follow = await cli(served, "get", batch_id, "--wait", "--poll", "0.05")
    assert follow.code == 4 and f"{batch_id}: cancelled" in follow.err


def _sigint_default() -> None:
    """In the CLI's child before exec: SIGINT as a terminal's foreground job has it. A test
    runner started in the background by a non-interactive shell (`cmd &`) ignores SIGINT,
    the CLI would inherit that, and Python leaves an ignored SIGINT ignored: the CLI then
    never saw this test's Ctrl-C (the flake of earlier runs, SigIgn bit 2 in its /proc)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_ctrl_c_stops_following_and_never_cancels(served: Served, tmp_path) -> None:
    served.double.step = 0  # never ends
    src = str(jsonl(tmp_path / "in.jsonl", 4))
    proc = await start_cli(
        served,
        "submit", src, "--endpoint", "/v1/chat/completions", "--wait", "--poll", "0.05",
        env=served.env(PYTHONFAULTHANDLER="1"),  # SIGABRT dumps its stacks (below)
        preexec_fn=_sigint_default,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while sum(1 for m, p in served.double.calls if m == "GET" and "/batches/" in p) < 3:
        assert time.monotonic() < deadline, "the CLI never polled"
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    ran = asyncio.ensure_future(proc.communicate())
    try:
        _out, err = await asyncio.wait_for(asyncio.shield(ran), 20)
    except TimeoutError:
        raise AssertionError(await _why_still_running(proc, ran)) from None
    assert proc.returncode == 130, err
    assert b"keeps running" in err and b"Traceback" not in err
    assert not [c for c in served.double.calls if c[1].endswith("/cancel")]
    (job,) = served.double.jobs.values()
    assert job.batch["status"] == "in_progress"


async def _why_still_running(
    proc: asyncio.subprocess.Process, ran: asyncio.Future[tuple[bytes, bytes]]
) -> str:
    """What a CLI that outlived its Ctrl-C was doing: its signal state, where the kernel
    has it, then the Python stacks faulthandler prints on SIGABRT."""
    facts = [f"the CLI (pid {proc.pid}) still runs 20 s after SIGINT"]
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        facts += [x for x in status if x.startswith(("State", "Sig", "ShdPnd"))]
        facts.append("wchan: " + Path(f"/proc/{proc.pid}/wchan").read_text())
    except OSError as e:
        facts.append(f"/proc: {e} (exited, yet its pipes stayed open or went unnoticed)")
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGABRT)
    try:
        _out, err = await asyncio.wait_for(ran, 10)
        facts.append(err.decode(errors="replace"))
    except TimeoutError:
        proc.kill()
        facts.append("no exit after SIGABRT either")
    return "\n".join(facts)


@pytest.mark.parametrize("poll", ["0", "-1", "nan", "inf", "soon"])
async def test_a_poll_interval_that_is_no_wait_is_a_usage_error(served: Served, poll: str) -> None:
    """`--poll 0` (or below) asked the gateway as fast as it answered, for as long as
    the batch ran."""
    ran = await cli(served, "get", "batch_x", "--wait", "--poll", poll)
    assert ran.code == 2 and "is not a poll interval" in ran.err, ran.err


async def test_a_4xx_is_printed_with_its_openai_message(served: Served) -> None:
    ran = await cli(served, "get", "batch_nope")
    assert ran.code == 1
    assert ran.err.strip() == "error: No batch found with id 'batch_nope'. (HTTP 404)"
    wrong_key = await cli(served, "list", "--api-key", "sk-wrong")
    assert wrong_key.code == 1
    assert "Incorrect API key provided. (HTTP 401, invalid_api_key)" in wrong_key.err


async def test_failed_batch_shows_its_file_errors(served: Served, tmp_path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    ran = await cli(
        served,
        "submit",
        str(empty),
        "--endpoint",
        "/v1/chat/completions",
        "--wait",
        "--poll",
        "0.05",
    )
    assert ran.code == 4
    assert "empty_file: The batch input file is empty." in ran.err
    assert ran.err.strip().endswith(": failed")


async def test_flags_override_the_environment(served: Served, tmp_path) -> None:
    env = served.env(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="sk-wrong")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provocapi",
        "batch",
        "list",
        "--base-url",
        served.base_url,
        "--api-key",
        KEY,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    unreachable = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provocapi",
        "batch",
        "list",
        env=env,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(unreachable.communicate(), 30)
    assert unreachable.returncode == 3 and b"cannot reach the gateway" in err


async def test_an_upload_refused_early_prints_the_413(served: Served, tmp_path) -> None:
    served.double.max_file_bytes = 1000
    big = tmp_path / "big.jsonl"
    line = b'{"custom_id": "r", "method": "POST", "url": "/v1/embeddings", "body": {}}\n'
    big.write_bytes(line * (8_000_000 // len(line)))
    ran = await cli(served, "submit", str(big), "--endpoint", "/v1/embeddings")
    assert ran.code == 1, ran.err
    assert "File is too large: the limit is 1000 bytes. (HTTP 413, file_too_large)" in ran.err
    assert not served.double.jobs
