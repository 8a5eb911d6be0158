"""`--data-dir` that cannot be used, or is already used by another serve: exit 2,
saying why, before anything starts."""

from __future__ import annotations

from pathlib import Path

from harness.gateway import Gateway
from harness.procs import run_cli
from harness.waiting import poll
from provocapi.netutil import free_port

# no simulator to start: serve is up as soon as Granian listens
CONFIG = """\
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    for args in (
        ["serve", "--port", str(free_port())],
        ["keys", "list"],
        ["keys", "create", "--tenant", "t"],
    ):
        res = run_cli(*args, "--data-dir", str(a_file))
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"data dir {a_file} is a file" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert "listening" not in res.stdout


def test_a_second_serve_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = Gateway(tmp_path / "first", CONFIG)
    second = Gateway(tmp_path / "second", CONFIG, data_dir=first.data_dir)
    try:
        first.start()
        second.launch()
        # it would otherwise rewrite the first's effective config and state table
        assert poll(lambda: not second.alive(), timeout_s=30), second.output()
        assert second.proc is not None and second.proc.popen.returncode == 2, second.output()
        assert "is in use by another provocapi serve" in second.output()
        assert f"(pid {first.pid})" in second.output()
        assert first.alive()
    finally:
        second.stop()
        first.stop()
    # the lock goes with the serve that held it
    third = Gateway(tmp_path / "third", CONFIG, data_dir=first.data_dir)
    try:
        third.start()
    finally:
        third.stop()


def test_a_data_dir_with_a_space_is_printed_ready_to_paste(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gw", CONFIG, data_dir=tmp_path / "data dir")
    try:
        gw.start()
        assert f"--data-dir '{tmp_path / 'data dir'}'" in gw.output(), gw.output()
        assert gw.create_key("spaced").startswith("pk-prov-")
    finally:
        gw.stop()
