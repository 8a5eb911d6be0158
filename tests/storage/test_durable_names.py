"""A stored file's name is on disk before anything says the file exists.

`os.fsync` of a file keeps its bytes; the name a rename gave it is kept only once
its directory is synced. These tests watch every fsync the stores make and check,
at the moment the directory is synced, what is already there and what is not yet
(a power cut is not something a test can pull; the order of the syncs is)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from provocapi.adapterstore.files import STAGING_PREFIX, AdapterFiles
from provocapi.batch.local import LocalFileStore, connect
from provocapi.usage.spool import SpoolWriter


def _inode(path: Path) -> int:
    return os.stat(path).st_ino


class Syncs:
    """Every fsync made while installed: (inode, is a directory, what `probe` saw then)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, probe: Callable[[], object]) -> None:
        self.seen: list[tuple[int, bool, object]] = []
        real = os.fsync

        def fsync(fd: int) -> None:
            st = os.fstat(fd)
            self.seen.append((st.st_ino, stat.S_ISDIR(st.st_mode), probe()))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    def of(self, inode: int) -> list[object]:
        return [probe for ino, _, probe in self.seen if ino == inode]

    def inodes(self) -> set[int]:
        return {ino for ino, _, _ in self.seen}


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def _rows(tmp_path: Path) -> list[str]:
    """The file rows another connection can read (committed only)."""
    db = sqlite3.connect(tmp_path / "batch.db")
    try:
        return [r[0] for r in db.execute("SELECT id FROM files")]
    finally:
        db.close()


def test_an_upload_names_its_file_on_disk_before_its_row_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = LocalFileStore(tmp_path, connect(tmp_path), expiry_s=60)
    part = asyncio.run(files.receive(_chunks(b'{"a":1}\n')))
    final = files.dir / part.file_id
    syncs = Syncs(monkeypatch, lambda: (final.exists(), _rows(tmp_path)))
    rec = files.commit(part, "t", "batch", "in.jsonl")
    at_dir_sync = syncs.of(_inode(files.dir))
    # the directory was synced once the file had its final name, and before the row
    # that points at it was visible to anyone
    assert at_dir_sync == [(True, [])]
    assert _rows(tmp_path) == [rec.id]


def test_a_written_file_names_itself_on_disk_before_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = LocalFileStore(tmp_path, connect(tmp_path), expiry_s=60)
    names = lambda: sorted(p.name for p in files.dir.iterdir())  # noqa: E731
    syncs = Syncs(monkeypatch, lambda: (names(), _rows(tmp_path)))
    rec = files.write("t", "batch_output", "out.jsonl", [b"x\n", b"y\n"])
    at_dir_sync = syncs.of(_inode(files.dir))
    assert at_dir_sync == [([rec.id], [])]  # renamed, not yet a row
    assert _rows(tmp_path) == [rec.id]


def _staged(files: AdapterFiles, token: str) -> list[Path]:
    staging = files.staging(token)
    (staging / "sub").mkdir()
    made = [staging / "adapter_config.json", staging / "adapter_model.safetensors"]
    made.append(staging / "sub" / "extra.bin")
    for i, p in enumerate(made):
        p.write_bytes(b"x" * (i + 1))
    return made


def test_an_adapter_is_synced_file_by_file_then_renamed_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = AdapterFiles(tmp_path / "adapters")
    made = _staged(files, "tok")
    staging = tmp_path / "adapters" / f"{STAGING_PREFIX}tok"
    syncs = Syncs(monkeypatch, lambda: (tmp_path / "adapters" / "adp_1").exists())
    files.sync_staging("tok")
    wanted = {_inode(p) for p in made} | {_inode(staging), _inode(staging / "sub")}
    assert wanted <= syncs.inodes()  # every file and every directory of the tree
    before = len(syncs.seen)
    final = files.publish("tok", "adp_1")
    root_syncs = [probe for ino, is_dir, probe in syncs.seen[before:] if is_dir]
    assert syncs.of(_inode(tmp_path / "adapters")) == [True]  # after the rename, once
    assert root_syncs == [True]
    assert sorted(p.name for p in final.iterdir()) == sorted(["sub", *(p.name for p in made[:2])])


def test_a_usage_segment_names_itself_on_disk_with_its_first_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    w = SpoolWriter(spool, max_bytes=1 << 20, segment_bytes=64)
    syncs = Syncs(monkeypatch, lambda: w.seq)
    try:
        w.write(b"x" * 40 + b"\n")
        asyncio.run(w.sync_once())  # the first segment's lines, then its name
        assert [(d, seq) for _, d, seq in syncs.seen] == [(False, 0), (True, 0)]
        w.write(b"y" * 40 + b"\n")  # past 64 bytes: sync_once rotates after syncing
        asyncio.run(w.sync_once())
        done = len(syncs.seen)
        assert not any(d for _, d, _ in syncs.seen[2:])  # a known name: files only
        w.write(b"z\n")  # the first lines of segment 1: its name goes with them
        asyncio.run(w.sync_once())
        dir_syncs = [seq for ino, d, seq in syncs.seen[done:] if d and ino == _inode(spool)]
        assert dir_syncs == [1]
    finally:
        w.close()
