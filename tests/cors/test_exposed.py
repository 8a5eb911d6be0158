"""Every header the gateway sets for clients is one a browser page may read: a new
one that is not in cors.EXPOSED would be invisible to pages (and to the JS SDK's
retry loop, which reads x-should-retry and retry-after-ms)."""

from __future__ import annotations

import re
from pathlib import Path

from provocapi import cors

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "provocapi"
CLIENTS = ("sim", "audit", "batch_cli")  # their own HTTP, not the gateway's answers
NOT_FOR_CLIENTS = {
    "x-accel-buffering",  # tells a proxy in front not to buffer a stream
    "x-stainless-",  # the SDKs' request headers (cors.SDK_HEADER_PREFIX)
}


def _set_by_the_gateway() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in CLIENTS:
            continue
        names |= set(re.findall(r'b"(x-[a-z0-9-]+|retry-after[a-z-]*)"', path.read_text()))
    for path in (ROOT / "rust" / "src").rglob("*.rs"):  # the core's x-ratelimit-* headers
        names |= set(re.findall(r'"(x-ratelimit-[a-z-]+)"', path.read_text()))
    return names - NOT_FOR_CLIENTS


def test_every_header_of_ours_is_exposed() -> None:
    ours = _set_by_the_gateway()
    assert len(ours) >= 13, ours  # the scan found them: ids, routing, retry, rate limits
    assert ours - set(cors.EXPOSED) == set()
