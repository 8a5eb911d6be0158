"""Files and batches end to end through the official openai SDK."""

from __future__ import annotations

import io
import time

import httpx2
import openai
import orjson
import pytest
from contract.spec import validate
from harness.procs import run_cli
from provocapi.batch.local import SqliteBatchStore, connect
from provocapi.keys import KeyStore

from .conftest import CHAT, CHAT_ALIAS, EMBED, BatchStack, wait_final


def chat_line(custom_id: str, text: str = "hi", model: str = CHAT, **extra: object) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}], **extra},
    }


def embed_line(custom_id: str, text: str) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings",
            "body": {"model": EMBED, "input": text}}  # fmt: skip


def jsonl(lines: list[dict]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch").id


def results(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [orjson.loads(x) for x in client.files.content(file_id).content.splitlines()]


def test_chat_batch_runs_to_completion(bstack: BatchStack) -> None:
    client = bstack.client()
    lines = [chat_line(f"req-{i}", f"question {i}") for i in range(12)]
    lines[3] = chat_line("req-3", "question 3", model=CHAT_ALIAS)  # the same model
    lines.append(chat_line("bad", max_tokens=-5))  # the endpoint refuses it: a 400 line
    lines.append(chat_line("boom", "fail [sim:status=500]"))  # the worker fails: retried, 502
    file_id = upload(client, jsonl(lines))
    info = client.files.retrieve(file_id)
    assert info.purpose == "batch" and info.bytes == len(jsonl(lines)) and info.expires_at
    batch = client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert batch.status == "validating" and batch.metadata == {"job": "nightly"}
    done = wait_final(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (14, 12)
    assert done.request_counts.failed == 2
    out = results(client, done.output_file_id)
    err = results(client, done.error_file_id)
    assert sorted(r["custom_id"] for r in out) == sorted(f"req-{i}" for i in range(12))
    for r in out:
        assert r["error"] is None and r["response"]["status_code"] == 200
        assert r["response"]["body"]["object"] == "chat.completion"
        assert r["response"]["request_id"]
    assert [r["custom_id"] for r in err] == ["bad", "boom"]  # in line order
    assert err[0]["response"]["status_code"] == 400 and err[0]["error"] is None
    assert err[0]["response"]["body"]["error"]["param"] == "max_tokens"
    assert err[1]["response"]["status_code"] == 502
    assert err[1]["response"]["body"]["error"]["code"] == "upstream_error"
    # the output files are the tenant's own, listed with purpose batch_output
    listed = client.files.list(purpose="batch_output")
    assert {done.output_file_id, done.error_file_id} <= {f.id for f in listed.data}
    assert any(b.id == batch.id for b in client.batches.list().data)


def test_embeddings_batch(bstack: BatchStack) -> None:
    client = bstack.client()
    lines = [embed_line(f"e{i}", f"text {i}") for i in range(5)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)),
        endpoint="/v1/embeddings",
        completion_window="24h",
    )
    done = wait_final(client, batch.id)
    assert done.status == "completed"
    out = results(client, done.output_file_id)
    assert sorted(r["custom_id"] for r in out) == [f"e{i}" for i in range(5)]
    assert all(r["response"]["body"]["object"] == "list" for r in out)


@pytest.mark.parametrize(
    ("code", "line", "lines"),
    [
        ("invalid_json_line", 2, [orjson.dumps(chat_line("a")), b"{not json"]),
        ("duplicate_custom_id", 2, [orjson.dumps(chat_line("a")), orjson.dumps(chat_line("a"))]),
        (
            "url_mismatch",
            1,
            [orjson.dumps({**chat_line("a"), "url": "/v1/embeddings"})],
        ),
        (
            "model_mismatch",
            2,
            [orjson.dumps(chat_line("a")), orjson.dumps(chat_line("b", model="other"))],
        ),
        (
            "invalid_method",
            2,
            [orjson.dumps(chat_line("a")), orjson.dumps({**chat_line("b"), "method": "GET"})],
        ),
        ("empty_file", None, [b"", b"  "]),
        ("too_many_tasks", None, [orjson.dumps(chat_line(f"n{i}")) for i in range(51)]),
    ],
)
def test_file_level_errors_fail_the_batch(
    bstack: BatchStack, code: str, line: int | None, lines: list[bytes]
) -> None:
    client = bstack.client()
    file_id = upload(client, b"\n".join(lines) + b"\n")
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_final(client, batch.id)
    assert done.status == "failed"
    assert done.errors is not None and done.errors.data
    first = done.errors.data[0]
    assert (first.code, first.line) == (code, line)
    assert done.output_file_id is None and done.error_file_id is None


def test_cancel_mid_run(bstack: BatchStack) -> None:
    client = bstack.client()
    lines = [chat_line(f"slow-{i}", "wait [sim:delay_ms=400]") for i in range(20)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    while client.batches.retrieve(batch.id).status == "validating":
        pass
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status in ("cancelling", "cancelled")
    again = client.batches.cancel(batch.id)  # asking again is harmless
    assert again.status in ("cancelling", "cancelled")
    done = wait_final(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at
    assert client.batches.cancel(batch.id).status == "cancelled"
    out = results(client, done.output_file_id)
    err = results(client, done.error_file_id)
    ids = [r["custom_id"] for r in out + err]
    assert sorted(ids) == sorted(f"slow-{i}" for i in range(20))  # each exactly once
    never = [r for r in err if r["error"] and r["error"]["code"] == "batch_cancelled"]
    assert never and all(r["response"] is None for r in never)


def test_a_finished_batch_cannot_be_cancelled(bstack: BatchStack) -> None:
    """OpenAI answers 409 for a batch that ended; the batch stays as it was."""
    client = bstack.client()
    ended = []
    for data, status in ((jsonl([chat_line("a")]), "completed"), (b"{not json\n", "failed")):
        batch = client.batches.create(
            input_file_id=upload(client, data),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        ended.append((batch.id, status))
    for batch_id, status in ended:
        assert wait_final(client, batch_id).status == status
        with pytest.raises(openai.ConflictError) as err:
            client.batches.cancel(batch_id)
        body = err.value.response.json()["error"]
        assert body["message"] == f"Cannot cancel a batch with status '{status}'."
        assert body["type"] == "invalid_request_error"
        assert body["code"] == "batch_not_cancellable"
        assert err.value.response.headers["x-should-retry"] == "false"  # the SDKs retry 409
        assert client.batches.retrieve(batch_id).status == status


def test_expiry(short_window: BatchStack) -> None:
    client = short_window.client()
    lines = [chat_line(f"x-{i}", "wait [sim:delay_ms=1500]") for i in range(8)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    done = wait_final(client, batch.id, timeout_s=30.0)
    assert done.status == "expired" and done.expired_at
    assert done.expired_at - done.created_at >= 2
    out = results(client, done.output_file_id)
    err = results(client, done.error_file_id)
    assert sorted(r["custom_id"] for r in out + err) == sorted(f"x-{i}" for i in range(8))
    assert any(r["error"] and r["error"]["code"] == "batch_expired" for r in err)


def test_upload_limits(bstack: BatchStack) -> None:
    client = bstack.client()
    with pytest.raises(openai.APIStatusError) as exc:
        upload(client, b"x" * (33 * 1024))
    assert exc.value.status_code == 413 and exc.value.code == "file_too_large"
    hoarder = bstack.client(bstack.hoarder_key)
    with pytest.raises(openai.APIStatusError) as exc:
        for _ in range(10):  # 30 KiB each against a 200 KiB quota
            upload(hoarder, b"y" * (30 * 1024))
    assert exc.value.status_code == 413 and exc.value.code == "storage_quota_exceeded"


def test_other_tenant_gets_404_everywhere(bstack: BatchStack) -> None:
    client = bstack.client()
    file_id = upload(client, jsonl([chat_line("t1")]))
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    wait_final(client, batch.id)
    other = {"Authorization": f"Bearer {bstack.other_key}"}
    with httpx2.Client(base_url=bstack.gateway.url, headers=other, trust_env=False) as h:
        for method, path in [
            ("GET", f"/v1/files/{file_id}"),
            ("GET", f"/v1/files/{file_id}/content"),
            ("DELETE", f"/v1/files/{file_id}"),
            ("GET", f"/v1/batches/{batch.id}"),
            ("POST", f"/v1/batches/{batch.id}/cancel"),
            ("GET", f"/v1/batch/{batch.id}"),
            ("GET", f"/v1/batch/{batch.id}/output"),
            ("POST", f"/v1/batch/{batch.id}/cancel"),
        ]:
            r = h.request(method, path)
            assert r.status_code == 404, (method, path, r.text)
        r = h.post("/v1/batches", json={"input_file_id": file_id,
                   "endpoint": "/v1/chat/completions", "completion_window": "24h"})  # fmt: skip
        assert r.status_code == 404
        assert h.get("/v1/files").json()["data"] == []
        assert h.get("/v1/batches").json()["data"] == []


def test_batch_routes_with_raw_jsonl(bstack: BatchStack) -> None:
    auth = {"Authorization": f"Bearer {bstack.key}"}
    body = jsonl([chat_line(f"raw-{i}") for i in range(3)])
    with httpx2.Client(base_url=bstack.gateway.url, headers=auth, trust_env=False) as h:
        r = h.post("/v1/batch?endpoint=/v1/chat/completions", content=body)
        assert r.status_code == 200, r.text
        created = r.json()
        assert created["object"] == "batch" and created["status"] == "validating"
        bid = created["id"]
        early = h.get(f"/v1/batch/{bid}/output")
        if early.status_code == 409:
            assert early.json()["error"]["code"] == "batch_not_finished"
            assert early.headers["x-should-retry"] == "false"
        done = wait_final(bstack.client(), bid)
        assert h.get(f"/v1/batch/{bid}").json()["status"] == done.status == "completed"
        out = [orjson.loads(x) for x in h.get(f"/v1/batch/{bid}/output").content.splitlines()]
        assert sorted(r["custom_id"] for r in out) == ["raw-0", "raw-1", "raw-2"]
        assert any(b["id"] == bid for b in h.get("/v1/batch").json()["data"])
        # multipart, endpoint as a form field
        r = h.post("/v1/batch", files={"file": ("b.jsonl", body)},
                   data={"endpoint": "/v1/chat/completions"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert h.post(f"/v1/batch/{r.json()['id']}/cancel").status_code == 200


def test_deleting_a_running_batch_input_is_409(bstack: BatchStack) -> None:
    client = bstack.client()
    lines = [chat_line(f"d-{i}", "wait [sim:delay_ms=300]") for i in range(6)]
    file_id = upload(client, jsonl(lines))
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    with pytest.raises(openai.ConflictError) as exc:
        client.files.delete(file_id)
    assert exc.value.code == "file_in_use"
    assert exc.value.type == "invalid_request_error"  # the client's to mend, not the server's
    assert exc.value.response.headers["x-should-retry"] == "false"
    client.batches.cancel(batch.id)
    wait_final(client, batch.id)
    assert client.files.delete(file_id).deleted


def test_objects_match_openai_spec(bstack: BatchStack) -> None:
    """Raw answers of every route, checked against the vendored OpenAI spec."""
    auth = {"Authorization": f"Bearer {bstack.key}"}
    body = jsonl([chat_line("s-1"), chat_line("s-2")])
    with httpx2.Client(base_url=bstack.gateway.url, headers=auth, trust_env=False) as h:
        up = h.post("/v1/files", files={"file": ("s.jsonl", body)}, data={"purpose": "batch"})
        validate("OpenAIFile", up.json())
        file_id = up.json()["id"]
        validate("OpenAIFile", h.get(f"/v1/files/{file_id}").json())
        validate("ListFilesResponse", h.get("/v1/files?limit=1").json())
        made = h.post("/v1/batches", json={"input_file_id": file_id,
                      "endpoint": "/v1/chat/completions", "completion_window": "24h"})  # fmt: skip
        validate("Batch", made.json())
        wait_final(bstack.client(), made.json()["id"])
        done = h.get(f"/v1/batches/{made.json()['id']}").json()
        validate("Batch", done)
        assert done["status"] == "completed" and done["completed_at"] >= done["created_at"]
        validate("Batch", h.get(f"/v1/batch/{made.json()['id']}").json())
        validate("ListBatchesResponse", h.get("/v1/batches?limit=2").json())
        validate("ListBatchesResponse", h.get("/v1/batch").json())
        bad = h.post("/v1/batch?endpoint=/v1/chat/completions", content=b"{oops\n")
        failed = wait_final(bstack.client(), bad.json()["id"])
        validate("Batch", h.get(f"/v1/batches/{failed.id}").json())
        validate("DeleteFileResponse", h.delete(f"/v1/files/{file_id}").json())
        # pagination: `after` continues where the previous page stopped
        first = h.get("/v1/batches?limit=1").json()
        second = h.get(f"/v1/batches?limit=1&after={first['last_id']}").json()
        assert first["has_more"] and second["data"][0]["id"] != first["data"][0]["id"]


def test_an_unknown_input_file_is_named_by_its_field(bstack: BatchStack) -> None:
    """A batch's missing input file is 404 naming `input_file_id`, the field the client
    sent (the files routes name `id`, their path's)."""
    client = bstack.client()
    gone = upload(client, jsonl([chat_line("gone")]))
    client.files.delete(gone)
    for file_id in ("file-nope", gone):
        with pytest.raises(openai.NotFoundError) as err:
            client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                  completion_window="24h")  # fmt: skip
        body = err.value.response.json()["error"]
        assert (body["param"], body["code"]) == ("input_file_id", "file_not_found"), body
        assert body["message"] == f"No such File object: {file_id}."
    with pytest.raises(openai.NotFoundError) as err:
        client.files.retrieve("file-nope")
    assert err.value.response.json()["error"]["param"] == "id"


def test_an_unknown_after_is_404_not_the_first_page(bstack: BatchStack) -> None:
    """An `after` naming nothing answered the first page: a pager that lost its place
    started over silently (duplicates; a loop for one that pages until it sees an id)."""
    client = bstack.client()
    ids = [upload(client, jsonl([chat_line(f"p{i}")])) for i in range(3)]
    batch = client.batches.create(input_file_id=ids[0], endpoint="/v1/chat/completions",
                                  completion_window="24h")  # fmt: skip
    gone = upload(client, jsonl([chat_line("gone")]))
    client.files.delete(gone)
    for path, after, kind in (
        ("files", "file-nope", "File"),
        ("files", gone, "File"),  # deleted: its place in the list is gone with it
        ("batches", "batch_nope", "Batch"),
        ("batch", ids[1], "Batch"),  # a file's id is no batch
    ):
        with pytest.raises(openai.NotFoundError) as err:
            client.get(f"/{path}", cast_to=object, options={"params": {"after": after}})
        body = err.value.response.json()["error"]
        assert (body["param"], body["code"]) == ("after", f"{kind.lower()}_not_found"), body
        assert body["message"] == f"No such {kind} object: {after}."
    # a known cursor still pages on: every file once, in the one-page order, and it ends
    # (the runner may write other tests' output files meanwhile: compare ours only)
    walked = [f.id for f in client.files.list(limit=1, order="asc")]
    whole = [f.id for f in client.files.list(order="asc").data]
    assert len(walked) == len(set(walked))
    assert [i for i in walked if i in ids] == [i for i in whole if i in ids]
    assert set(ids) <= set(walked)
    pages = client.batches.list(limit=1)
    assert batch.id in [b.id for b in pages]


def test_revoking_the_key_cancels_its_batches(bstack: BatchStack) -> None:
    key = bstack.gateway.new_keys("revoker")["revoker"]
    client = bstack.client(key)
    lines = [chat_line(f"k-{i}", "wait [sim:delay_ms=300]") for i in range(12)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    (rec,) = [r for r in KeyStore(bstack.gateway.data_dir).list() if r.tenant == "revoker"]
    assert (
        run_cli("keys", "revoke", rec.id, "--data-dir", str(bstack.gateway.data_dir)).returncode
        == 0
    )
    # the key no longer reads the batch: look it up as the runner left it
    store = SqliteBatchStore(connect(bstack.gateway.data_dir / "batch"))
    deadline = time.monotonic() + 20
    while (found := store.get(None, batch.id)) is not None and found.status != "cancelled":
        assert time.monotonic() < deadline, found.status
        time.sleep(0.1)
    assert found is not None and found.completed < 12
    assert found.completed + found.failed == 12  # never-run lines: batch_cancelled


def test_batch_tpm_makes_lines_wait_not_fail(bstack: BatchStack) -> None:
    """Tier `thrifty` has batch_tpm = 1: once a line's tokens count, the others wait,
    while another tenant's batch runs beside it."""
    key = bstack.gateway.new_keys("thrifty")["thrifty"]
    thrifty = bstack.client(key)
    batch = thrifty.batches.create(
        input_file_id=upload(thrifty, jsonl([chat_line(f"t-{i}") for i in range(3)])),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    client = bstack.client()
    other = client.batches.create(
        input_file_id=upload(client, jsonl([chat_line("beside")])),
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    assert wait_final(client, other.id).status == "completed"
    deadline = time.monotonic() + 10
    while (now := thrifty.batches.retrieve(batch.id)).request_counts.completed < 1:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)
    now = thrifty.batches.retrieve(batch.id)
    assert now.status == "in_progress"
    assert now.request_counts is not None
    # the lines started before the first answer counted (line_concurrency 2) ran; the
    # third waits for the minute to pass instead of failing
    assert now.request_counts.completed in (1, 2) and now.request_counts.failed == 0
    ran = now.request_counts.completed
    thrifty.batches.cancel(batch.id)
    done = wait_final(thrifty, batch.id)
    assert done.status == "cancelled" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (ran, 3 - ran)
