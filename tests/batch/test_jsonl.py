"""Batch input lines: a UTF-8 byte-order mark is no part of the first task."""

from __future__ import annotations

import orjson
from provocapi.batch.jsonl import BOM, task_lines
from provocapi.batch.runner import numbered
from provocapi.batch.validate import check

CHAT = "/v1/chat/completions"


def _line(custom_id: str) -> bytes:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    task = {"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body}
    return orjson.dumps(task) + b"\r\n"


def test_a_file_saved_with_a_bom_validates_and_runs() -> None:
    lines = [BOM + _line("a"), _line("b")]
    checked = check(lines, CHAT, 10)
    assert checked.errors == [] and checked.total == 2
    assert [(n, t["custom_id"]) for n, t in numbered(iter(lines))] == [(1, "a"), (2, "b")]


def test_only_a_leading_bom_is_dropped() -> None:
    # a BOM alone on the first line leaves it blank; one further down is content
    assert list(task_lines([BOM + b"\n", b"x\n"])) == [(2, b"x\n")]
    assert list(task_lines([b"x\n", BOM + b"y\n"])) == [(1, b"x\n"), (2, BOM + b"y\n")]
    checked = check([_line("a"), BOM + _line("b")], CHAT, 10)
    assert [e["code"] for e in checked.errors] == ["invalid_json_line"]
