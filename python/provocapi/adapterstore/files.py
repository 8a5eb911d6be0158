"""Where an adapter's files live: `[adapters] dir`/<id>/, written under a
staging name first and renamed into place only once they passed the checks, so
a gateway killed mid-upload leaves a staging directory, never a served one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..durable import fsync_dir, fsync_tree

STAGING_PREFIX = ".staging-"
STALE_STAGING_S = 24 * 3600  # older staging directories belong to dead uploads


class AdapterFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def staging(self, token: str) -> Path:
        path = self.root / f"{STAGING_PREFIX}{token}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def sync_staging(self, token: str) -> None:
        """Every staged file and directory on disk (blocking: run it off the loop),
        so that `publish` only has a rename left to make durable."""
        fsync_tree(self.root / f"{STAGING_PREFIX}{token}")

    def publish(self, token: str, adapter_id: str) -> Path:
        """Renames synced staging files into place; the rename is durable on return."""
        final = self.root / adapter_id
        (self.root / f"{STAGING_PREFIX}{token}").rename(final)
        fsync_dir(self.root)
        return final

    def discard_staging(self, token: str) -> None:
        shutil.rmtree(self.root / f"{STAGING_PREFIX}{token}", ignore_errors=True)

    def remove(self, adapter_id: str) -> None:
        shutil.rmtree(self.root / adapter_id, ignore_errors=True)

    def sweep_staging(self) -> None:
        """Drop staging directories of uploads that died (kill -9) long ago."""
        cutoff = time.time() - STALE_STAGING_S
        for path in self.root.glob(f"{STAGING_PREFIX}*"):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue
