"""What a killed gateway leaves in the files directory (an upload's `.part` cut
mid-stream, a file renamed into place whose row was never written) is deleted by
the runner once it is old enough that no live upload can own it; before, it took
disk space for good, outside every tenant's quota."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.waiting import poll

from .conftest import BatchStack, one_worker_stack
from .test_batch_e2e import chat_line, jsonl, upload

HOUR_AGO = time.time() - 3600


def _aged(path: Path, data: bytes = b"x" * 1000) -> Path:
    path.write_bytes(data)
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path


def test_a_killed_upload_and_an_unrecorded_file_are_swept(tmp_path: Path) -> None:
    files = tmp_path / "gw" / "data" / "batch" / "files"
    files.mkdir(parents=True)
    cut = _aged(files / ".file-0123456789abcdef01234567.part")
    orphan = _aged(files / "file-89abcdef0123456789abcdef")
    fresh = files / ".file-fedcba9876543210fedcba98.part"  # a live upload's, maybe
    fresh.write_bytes(b"streaming")
    with one_worker_stack(
        tmp_path,
        ("--ttft-ms", "0", "--output-tokens", "2"),
        """
        [batch]
        poll_interval_s = 0.1
        """,
    ) as stack:
        kept = _kept_file(stack)
        gone = poll(lambda: (cut.exists(), orphan.exists()), lambda e: e == (False, False), 20)
        assert gone == (False, False)
        assert fresh.exists() and (files / kept).exists()
        assert stack.client().files.content(kept).content == jsonl([chat_line("k")])


def _kept_file(stack: BatchStack) -> str:
    """A real upload, aged like the leftovers: it has its row, so it stays."""
    file_id = upload(stack.client(), jsonl([chat_line("k")]))
    path = stack.gateway.data_dir / "batch" / "files" / file_id
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return file_id
