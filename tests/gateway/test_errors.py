"""Client input quoted in an error: cut at QUOTE_CHARS, always encodable."""

from __future__ import annotations

import orjson
from provocapi.error_catalog import model_not_found
from provocapi.errors import QUOTE_CHARS, ApiError, quote


def test_quote_cuts_long_text() -> None:
    assert quote("short") == "short"
    assert quote("x" * QUOTE_CHARS) == "x" * QUOTE_CHARS
    assert quote("x" * 1_000_000) == "x" * QUOTE_CHARS + "..."


def test_quote_makes_anything_encodable() -> None:
    assert quote("a\udc80b") == "a?b"  # a lone surrogate, as a path may carry
    assert quote(2.5) == "2.5"
    assert quote(10**4000).startswith("an integer of 40")  # str() would build 4000 digits
    orjson.dumps(quote("\ud800" * 10))


def test_model_not_found_and_params_stay_short() -> None:
    err = model_not_found("m" * 1_000_000)
    assert len(err.body()) < QUOTE_CHARS + 300
    assert ApiError(400, "x", param="p" * 5000).param == "p" * QUOTE_CHARS + "..."
    assert ApiError(400, "x", param="messages[0].role").param == "messages[0].role"
