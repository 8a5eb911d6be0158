"""The golden set: one request body per JSONL line (chat when it has `messages`,
embeddings when it has `input`), with an optional `id`, `category` and expectations
(`expect_tool`, `expect_json_schema`, `expect_substring`) that are not sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent / "golden" / "default.jsonl"
META = ("id", "category", "expect_tool", "expect_json_schema", "expect_substring")


class GoldenError(ValueError):
    """A line of the golden file that is not a usable case (its line number in the text)."""


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "chat" | "embeddings"
    body: dict[str, Any]
    category: str = ""
    expect_tool: str | None = None
    expect_json_schema: dict[str, Any] | None = None
    expect_substring: str | None = None

    @property
    def tools(self) -> list[dict[str, Any]]:
        return [t for t in self.body.get("tools") or [] if isinstance(t, dict)]

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The schema the answer must match: the expectation, else response_format's."""
        if self.expect_json_schema is not None:
            return self.expect_json_schema
        rf = self.body.get("response_format")
        if isinstance(rf, dict) and rf.get("type") == "json_schema":
            spec = rf.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            return schema if isinstance(schema, dict) else None
        return None

    @property
    def wants_json(self) -> bool:
        rf = self.body.get("response_format")
        kind = rf.get("type") if isinstance(rf, dict) else None
        return kind in ("json_object", "json_schema") or self.expect_json_schema is not None


def parse_line(line: str, number: int) -> Case:
    try:
        raw = json.loads(line)
    except ValueError as e:
        raise GoldenError(f"line {number}: not JSON ({e})") from e
    if not isinstance(raw, dict):
        raise GoldenError(f"line {number}: not a JSON object")
    if isinstance(raw.get("messages"), list):
        kind = "chat"
    elif "input" in raw:
        kind = "embeddings"
    else:
        raise GoldenError(f"line {number}: neither `messages` (chat) nor `input` (embeddings)")
    schema = raw.get("expect_json_schema")
    if schema is not None and not isinstance(schema, dict):
        raise GoldenError(f"line {number}: expect_json_schema must be an object")
    for name in ("expect_tool", "expect_substring"):
        # the scoring compares them as text; another type would fail only after the run
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise GoldenError(f"line {number}: {name} must be a string")
    body = {k: v for k, v in raw.items() if k not in META}
    return Case(
        id=str(raw.get("id") or f"line-{number}"),
        kind=kind,
        body=body,
        category=str(raw.get("category") or ""),
        expect_tool=raw.get("expect_tool"),
        expect_json_schema=schema,
        expect_substring=raw.get("expect_substring"),
    )


def load(path: Path) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        at = path.read_bytes()[: e.start].count(b"\n") + 1
        raise GoldenError(f"line {at}: not UTF-8 text ({e.reason})") from e
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        case = parse_line(line, number)
        if case.id in seen:
            raise GoldenError(f"line {number}: id {case.id!r} repeated")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise GoldenError("the golden file holds no cases")
    return cases
