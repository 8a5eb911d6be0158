"""Identifiers minted per request, cheaply.

A random per-process prefix plus a counter: unique across processes and
restarts (the prefix has 96 random bits) without a system call per request.
"""

from __future__ import annotations

import itertools
import secrets

_PREFIX = secrets.token_hex(12)
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{_PREFIX}{next(_counter):x}"
