"""POST /v1/batches refuses what OpenAI refuses: an input file of another
purpose, metadata past OpenAI's limits (400 naming the parameter)."""

from __future__ import annotations

import io

import httpx2
import openai
import pytest

from .conftest import BatchStack
from .test_batch_e2e import chat_line, jsonl, upload


def _create(client: openai.OpenAI, file_id: str, **extra: object) -> object:
    return client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("purpose", ["fine-tune", "user_data", "assistants"])
def test_an_input_file_of_another_purpose_is_refused(bstack: BatchStack, purpose: str) -> None:
    client = bstack.client()
    data = io.BytesIO(jsonl([chat_line("a")]))
    other = client.files.create(file=("in.jsonl", data), purpose=purpose)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as ei:
        _create(client, other.id)
    body = ei.value.body
    assert isinstance(body, dict) and body["param"] == "input_file_id", body
    assert purpose in body["message"]


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(17)},
        {"k" * 65: "v"},
        {"k": "v" * 513},
    ],
    ids=["17 pairs", "key of 65", "value of 513"],
)
def test_metadata_past_openai_limits_is_refused(
    bstack: BatchStack, metadata: dict[str, str]
) -> None:
    client = bstack.client()
    file_id = upload(client, jsonl([chat_line("a")]))
    with pytest.raises(openai.BadRequestError) as ei:
        _create(client, file_id, metadata=metadata)
    body = ei.value.body
    assert isinstance(body, dict) and body["param"] == "metadata", body


def test_metadata_at_openai_limits_is_kept(bstack: BatchStack) -> None:
    client = bstack.client()
    file_id = upload(client, jsonl([chat_line("a")]))
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    batch = _create(client, file_id, metadata=metadata)
    assert batch.metadata == metadata  # type: ignore[attr-defined]


def test_a_missing_purpose_or_endpoint_is_named_missing(bstack: BatchStack) -> None:
    """Was 400 invalid_value "got None." (Python's word for nothing sent)."""
    auth = {"Authorization": f"Bearer {bstack.key}"}
    with httpx2.Client(base_url=bstack.gateway.url, headers=auth, trust_env=False) as h:
        no_purpose = h.post("/v1/files", files={"file": ("a.jsonl", b"{}\n")})
        no_endpoint = h.post("/v1/batch", content=jsonl([chat_line("m")]))
        listed = h.get("/v1/files?limit=10000").json()["data"]
    for answer, param in ((no_purpose, "purpose"), (no_endpoint, "endpoint")):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["param"]) == ("missing_required_parameter", param)
        assert "None" not in error["message"]
    assert not any(f["filename"] == "a.jsonl" and f["bytes"] == 3 for f in listed)
