"""GET /v1/usage's parameters: checked into a UsageQuery, or a clear 400."""

from __future__ import annotations

import datetime as dt

from ..error_catalog import USAGE_STORE_UNAVAILABLE, invalid
from ..errors import ApiError, quote
from ..query_params import query_pairs
from .stores import UsageQuery, UsageRow

ALLOWED = {"start_date", "end_date", "model", "tenant"}


def parse_params(query_string: bytes) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in query_pairs(query_string, max_fields=20):
        if name not in ALLOWED:
            raise invalid(
                f"Unknown query parameter '{quote(name)}'; use start_date, end_date, model, "
                "tenant.",
                param=name, code="unknown_parameter",
            )  # fmt: skip
        if name in params:
            raise invalid(f"Query parameter '{name}' is given twice.", param=name)
        params[name] = value
    return params


def parse_date(params: dict[str, str], name: str) -> dt.date:
    raw = params.get(name)
    if raw is None or raw == "":
        raise invalid(f"Missing required query parameter '{name}' (YYYY-MM-DD).", param=name,
                      code="missing_required_parameter")  # fmt: skip
    try:
        if len(raw) != 10:
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise invalid(
            f"Invalid '{name}': '{raw[:40]}' is not a date in the form YYYY-MM-DD.", param=name
        ) from None


def build_query(params: dict[str, str], tenant: str, max_days: int) -> UsageQuery:
    start = parse_date(params, "start_date")
    end = parse_date(params, "end_date")
    if end < start:
        raise invalid(
            f"end_date ({end}) is before start_date ({start}); the range is inclusive.",
            param="end_date",
        )
    days = (end - start).days + 1
    if days > max_days:
        raise invalid(
            f"The range covers {days} days; at most {max_days} days per request.",
            param="end_date",
        )
    return UsageQuery(tenant, start.isoformat(), end.isoformat(), params.get("model") or None)


def _pcts(values: tuple[float | None, ...]) -> dict[str, float | None]:
    return {"p50": values[0], "p90": values[1], "p99": values[2]}


def render(q: UsageQuery, rows: list[UsageRow]) -> dict[str, object]:
    return {
        "object": "list",
        "start_date": q.start,
        "end_date": q.end,
        "data": [
            {
                "date": r.day,
                "model": r.model,
                "requests": r.requests,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "total_tokens": r.prompt_tokens + r.completion_tokens,
                "latency_ms": _pcts(r.latency_ms),
                "ttft_ms": _pcts(r.ttft_ms),
            }
            for r in rows
        ],
    }


def store_unavailable(exc: Exception) -> ApiError:
    return USAGE_STORE_UNAVAILABLE.build()
