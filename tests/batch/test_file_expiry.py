"""Files expire as OpenAI's do: an upload of purpose `batch` after 30 days
(`[batch] file_expiry_s`), any other upload never unless it asks, and whatever
`expires_after` / `output_expires_after` ask for (1 hour to 30 days)."""

from __future__ import annotations

import io

import httpx2
import openai
import pytest

from .conftest import BatchStack, wait_final
from .test_batch_e2e import chat_line, jsonl, upload

HOUR = 3600


def test_only_batch_uploads_expire_by_default(bstack: BatchStack) -> None:
    client = bstack.client()
    batch = client.files.create(file=("b.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert batch.expires_at == batch.created_at + 30 * 86_400
    # "all other files are persisted until they are manually deleted" (OpenAI)
    kept = client.files.create(file=("u.txt", io.BytesIO(b"notes")), purpose="user_data")
    assert kept.expires_at is None
    assert client.files.retrieve(kept.id).expires_at is None


def test_an_upload_expires_when_it_asks(bstack: BatchStack) -> None:
    client = bstack.client()
    made = client.files.create(
        file=("b.jsonl", io.BytesIO(b"{}\n")),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": HOUR},
    )
    assert made.expires_at == made.created_at + HOUR
    assert client.files.retrieve(made.id).expires_at == made.expires_at


@pytest.mark.parametrize(
    ("policy", "param"),
    [
        ({"anchor": "created_at", "seconds": 60}, "expires_after.seconds"),
        ({"anchor": "created_at", "seconds": 2_592_001}, "expires_after.seconds"),
        ({"anchor": "last_active_at", "seconds": HOUR}, "expires_after.anchor"),
        ({"anchor": "created_at"}, "expires_after.seconds"),
    ],
)
def test_an_expiry_outside_openai_range_is_refused(
    bstack: BatchStack, policy: dict, param: str
) -> None:
    client = bstack.client()
    before = {f.id for f in client.files.list()}
    with pytest.raises(openai.BadRequestError) as err:
        client.files.create(
            file=("b.jsonl", io.BytesIO(b"{}\n")),
            purpose="batch",
            expires_after=policy,  # type: ignore[arg-type]
        )
    assert err.value.body["param"] == param  # type: ignore[index]
    assert {f.id for f in client.files.list()} == before  # nothing kept


def test_a_batch_output_expires_when_the_batch_asks(bstack: BatchStack) -> None:
    client = bstack.client()
    file_id = upload(client, jsonl([chat_line("x-1"), chat_line("x-2", max_tokens=-1)]))
    batch = client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        output_expires_after={"anchor": "created_at", "seconds": 2 * HOUR},
    )
    done = wait_final(client, batch.id)
    assert done.output_file_id and done.error_file_id
    for file_id in (done.output_file_id, done.error_file_id):
        made = client.files.retrieve(file_id)
        assert made.expires_at == made.created_at + 2 * HOUR
    with pytest.raises(openai.BadRequestError) as err:
        client.batches.create(
            input_file_id=upload(client, jsonl([chat_line("y")])),
            endpoint="/v1/chat/completions",
            completion_window="24h",
            output_expires_after={"anchor": "created_at", "seconds": 5},
        )
    assert err.value.body["param"] == "output_expires_after.seconds"  # type: ignore[index]


def test_a_whole_float_is_its_integer(bstack: BatchStack) -> None:
    auth = {"Authorization": f"Bearer {bstack.key}"}
    file_id = upload(bstack.client(), jsonl([chat_line("f-1")]))
    with httpx2.Client(base_url=bstack.gateway.url, headers=auth, trust_env=False) as h:
        made = h.post("/v1/batches", json={
            "input_file_id": file_id, "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "output_expires_after": {"anchor": "created_at", "seconds": 3600.0},
        })  # fmt: skip
    assert made.status_code == 200, made.text
