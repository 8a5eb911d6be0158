"""query_params: a query string as UTF-8 text, or a 400 naming the parameter."""

from __future__ import annotations

import pytest
from provocapi.errors import ApiError
from provocapi.query_params import query_dict, query_pairs


def test_percent_escapes_and_plus() -> None:
    raw = b"after=%D0%B9&q=a+b%2Bc&empty=&flag&after=2"
    assert query_pairs(raw) == [("after", "й"), ("q", "a b+c"), ("empty", ""), ("flag", ""),
                                ("after", "2")]  # fmt: skip
    assert query_pairs(raw, keep_blank=False) == [("after", "й"), ("q", "a b+c"),
                                                  ("after", "2")]  # fmt: skip
    assert query_dict(raw)["after"] == "2"  # the last value wins
    assert query_pairs(b"") == [] and query_pairs(b"&&") == []


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"after=\xd0\xb9", "after"),  # raw UTF-8: not percent-encoded
        (b"after=\xff", "after"),
        (b"after=%FF", "after"),
        (b"model=%D0", "model"),  # a cut sequence
        (b"ok=1&model=%C3%28", "model"),
        (b"%FF=1", None),  # the name itself
    ],
)
def test_not_utf8_is_a_400_naming_the_parameter(raw: bytes, param: str | None) -> None:
    with pytest.raises(ApiError) as err:
        query_pairs(raw)
    assert err.value.status == 400
    assert err.value.param == param
    assert "UTF-8" in err.value.message


def test_too_many_fields() -> None:
    assert len(query_pairs(b"&".join([b"a=1"] * 20), max_fields=20)) == 20
    with pytest.raises(ApiError) as err:
        query_pairs(b"&".join([b"a=1"] * 21), max_fields=20)
    assert "more than 20" in err.value.message
