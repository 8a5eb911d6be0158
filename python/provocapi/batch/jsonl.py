"""The task lines of a batch input file, as the validator and the runner both read them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# Editors on Windows save UTF-8 with this mark; it is an encoding signature,
# not part of the first line's JSON
BOM = b"\xef\xbb\xbf"


def task_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, raw line) for each non-blank line."""
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix(BOM)
        if raw.strip():
            yield number, raw
