"""media_type.is_json: which Content-Type values let a JSON route read its body."""

from __future__ import annotations

import pytest
from provocapi.media_type import essence, is_json


@pytest.mark.parametrize(
    "value",
    [b"application/json", b"application/json; charset=utf-8", b"APPLICATION/JSON",
     b"application/json ;charset=latin-1", b"application/vnd.openai+json", b"", b" ",
     b"; charset=utf-8"],
)  # fmt: skip
def test_json_and_no_type_are_json(value: bytes) -> None:
    assert is_json(value)


@pytest.mark.parametrize(
    "value",
    [b"text/plain", b"text/json", b"application/x-www-form-urlencoded",
     b"multipart/form-data; boundary=x", b"application/jsonl", b"application/json-seq",
     b"application/x-ndjson", b"application/jsonx", b"text/plain+json", b"json"],
)  # fmt: skip
def test_other_types_are_not(value: bytes) -> None:
    assert not is_json(value)


def test_an_error_names_the_type_without_its_parameters() -> None:
    assert essence(b" multipart/form-data; boundary=x") == "multipart/form-data"
