"""File-level validation, as OpenAI does it: any of these fails the batch as a
whole before a line runs. Each finding is an `errors.data[]` entry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from .jsonl import task_lines

MAX_FINDINGS = 100  # a broken file says what is wrong without listing every line


@dataclass(slots=True)
class CheckedBatch:
    total: int
    errors: list[dict[str, object]]
    model: str | None = None  # the lines' model (its id, not an alias)


def _finding(code: str, line: int | None, message: str, param: str | None) -> dict[str, object]:
    return {"code": code, "line": line, "message": message, "param": param}


def check(
    lines: Iterable[bytes],
    endpoint: str,
    max_lines: int,
    canonical: Callable[[str], str] = str,
) -> CheckedBatch:
    """One pass over the file; keeps only the custom ids (to find duplicates).
    `canonical` names a model's id, so lines naming one model by an alias and by its id
    are one model."""
    errors: list[dict[str, object]] = []
    seen: set[str] = set()
    model: str | None = None
    total = 0
    for number, raw in task_lines(lines):
        total += 1
        if total > max_lines:
            errors.append(
                _finding(
                    "too_many_tasks",
                    None,
                    f"The batch input file has more than {max_lines} requests.",
                    None,
                )
            )
            break
        if len(errors) >= MAX_FINDINGS:
            continue
        try:
            task = orjson.loads(raw)
        except orjson.JSONDecodeError:
            task = None
        if not isinstance(task, dict) or not isinstance(task.get("body"), dict):
            errors.append(
                _finding(
                    "invalid_json_line",
                    number,
                    "This line is not parseable as valid JSON, or has no `body` object.",
                    None,
                )
            )
            continue
        custom_id = task.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(
                _finding(
                    "invalid_json_line", number, "A `custom_id` string is required.", "custom_id"
                )
            )
        elif custom_id in seen:
            errors.append(
                _finding(
                    "duplicate_custom_id",
                    number,
                    f"The custom_id '{custom_id[:64]}' is used more than once in the file.",
                    "custom_id",
                )
            )
        else:
            seen.add(custom_id)
        if task.get("method", "POST") != "POST":  # OpenAI's lines are POSTs only
            errors.append(
                _finding(
                    "invalid_method", number, "The method of this line must be POST.", "method"
                )
            )
        if task.get("url") != endpoint:
            errors.append(
                _finding(
                    "url_mismatch",
                    number,
                    f"The url of this line must be the batch's endpoint, {endpoint}.",
                    "url",
                )
            )
        line_model = task["body"].get("model")
        if isinstance(line_model, str):
            line_model = canonical(line_model)
        if model is None and isinstance(line_model, str):
            model = line_model
        elif line_model != model:
            errors.append(
                _finding(
                    "model_mismatch",
                    number,
                    "Every line of a batch must use the same model; this one differs "
                    "from the first line's.",
                    "body.model",
                )
            )
    if total == 0:
        errors.append(_finding("empty_file", None, "The batch input file is empty.", None))
    return CheckedBatch(total, errors, model)
