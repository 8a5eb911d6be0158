"""A test double that speaks OpenAI's files and batches HTTP API, for the CLI's tests.

It stands in only until the gateway's own batch routes land (built in parallel); then the
CLI's tests should run against `provocapi serve`. Every JSON object it answers is checked
against OpenAI's published schemas (tests/contract/spec.py): mismatches are collected in
`spec_errors`, which the fixture asserts empty, so the double cannot drift from the API.

A batch advances only when it is read: each GET /v1/batches/{id} moves it from validating
to in_progress, then finishes `step` more lines; step 0 freezes it (to test Ctrl-C)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from contract.spec import SpecValidationError, validate

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
DAY = 86_400


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _error(status: int, message: str, code: str | None = None, param: str | None = None):
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)


@dataclass
class Job:
    batch: dict[str, Any]
    lines: list[dict[str, Any]]
    done: int = 0


@dataclass
class Double:
    api_key: str
    step: int = 1
    max_file_bytes: int = 1 << 30
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    spec_errors: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}/content", self.content)
        app.router.add_post("/v1/batches", self.create)
        app.router.add_get("/v1/batches", self.list)
        app.router.add_get("/v1/batches/{id}", self.retrieve)
        app.router.add_post("/v1/batches/{id}/cancel", self.cancel)
        return app

    def _reply(self, schema: str, obj: dict[str, Any]) -> web.Response:
        try:
            validate(schema, obj)
        except SpecValidationError as e:
            self.spec_errors.append(f"{schema}: {e}")
        return web.json_response(obj)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append((request.method, request.path))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        return await handler(request)

    # files

    async def upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return _error(400, "Expected a multipart/form-data body.")
        if (request.content_length or 0) > self.max_file_bytes:
            # Refused before the body is read, then the connection dropped under the client
            # still sending, as a server refusing a stream past its limit may do.
            limit = self.max_file_bytes
            msg = f"File is too large: the limit is {limit} bytes."
            resp = _error(413, msg, "file_too_large")
            await resp.prepare(request)
            await resp.write_eof()
            await asyncio.sleep(0.2)  # the answer reaches the client before the reset
            if request.transport is not None:
                request.transport.close()
            return resp
        form = await request.post()
        purpose, upload = form.get("purpose"), form.get("file")
        if not isinstance(purpose, str) or not isinstance(upload, web.FileField):
            return _error(400, "Missing required parameter: 'file'.", param="file")
        data = upload.file.read()
        now = int(time.time())
        obj = {
            "id": _id("file-"),
            "object": "file",
            "bytes": len(data),
            "created_at": now,
            "expires_at": now + 30 * DAY,
            "filename": upload.filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.files[obj["id"]] = (obj, data)
        return self._reply("OpenAIFile", obj)

    async def content(self, request: web.Request) -> web.Response:
        entry = self.files.get(request.match_info["id"])
        if entry is None:
            return _error(404, f"No such File object: {request.match_info['id']}")
        return web.Response(body=entry[1], content_type="application/octet-stream")

    def _add_file(self, name: str, lines: list[dict[str, Any]]) -> str:
        data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
        now = int(time.time())
        obj = {
            "id": _id("file-"),
            "object": "file",
            "bytes": len(data),
            "created_at": now,
            "expires_at": now + 30 * DAY,
            "filename": name,
            "purpose": "batch_output",
            "status": "processed",
        }
        self.files[obj["id"]] = (obj, data)
        return str(obj["id"])

    # batches

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        file_id = body.get("input_file_id")
        if body.get("endpoint") not in ENDPOINTS:
            return _error(400, f"Invalid endpoint: {body.get('endpoint')!r}.", param="endpoint")
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'.", param="completion_window")
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}", param="input_file_id")
        lines = [json.loads(x) for x in self.files[file_id][1].splitlines() if x.strip()]
        now = int(time.time())
        batch: dict[str, Any] = {
            "id": _id("batch_"),
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": file_id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + DAY,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        if not lines:
            batch["status"] = "failed"
            batch["failed_at"] = now
            batch["errors"] = {
                "object": "list",
                "data": [
                    {
                        "code": "empty_file",
                        "line": None,
                        "message": "The batch input file is empty.",
                        "param": None,
                    }
                ],
            }
        self.jobs[batch["id"]] = Job(batch, lines)
        return self._reply("Batch", batch)

    def _advance(self, job: Job) -> None:
        b, now = job.batch, int(time.time())
        if b["status"] == "validating":
            b["status"], b["in_progress_at"] = "in_progress", now
            b["request_counts"]["total"] = len(job.lines)
            return
        if b["status"] == "cancelling":
            self._finish(job, "cancelled")
            return
        if b["status"] != "in_progress" or not self.step:
            return
        job.done = min(len(job.lines), job.done + self.step)
        failed = sum(1 for x in job.lines[: job.done] if _fails(x))
        b["request_counts"].update(completed=job.done - failed, failed=failed)
        if job.done == len(job.lines):
            self._finish(job, "completed")

    def _finish(self, job: Job, status: str) -> None:
        b, now = job.batch, int(time.time())
        out, err = [], []
        for i, line in enumerate(job.lines):
            cid = line.get("custom_id")
            if i >= job.done:
                err.append(_never_ran(cid))
            elif _fails(line):
                err.append(_answered(cid, 400, _bad_request()))
            else:
                out.append(_answered(cid, 200, _answer(line)))
        if out:
            b["output_file_id"] = self._add_file("output.jsonl", out)
        if err:
            b["error_file_id"] = self._add_file("errors.jsonl", err)
        b["status"] = status
        b[f"{status}_at"] = now
        if status == "completed":
            b["finalizing_at"] = now

    async def retrieve(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, f"No batch found with id '{request.match_info['id']}'.")
        self._advance(job)
        return self._reply("Batch", job.batch)

    async def list(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return _error(400, "limit must be an integer.", param="limit")
        if not 1 <= limit <= 100:
            return _error(400, "limit must be between 1 and 100.", param="limit")
        ids = list(reversed(self.jobs))  # newest first
        after = request.query.get("after")
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        page = [self.jobs[i].batch for i in ids[:limit]]
        obj = {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(ids) > limit,
        }
        return self._reply("ListBatchesResponse", obj)

    async def cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return _error(404, f"No batch found with id '{request.match_info['id']}'.")
        b = job.batch
        if b["status"] not in ("validating", "in_progress"):
            return _error(409, f"Cannot cancel a batch with status '{b['status']}'.")
        b["status"], b["cancelling_at"] = "cancelling", int(time.time())
        return self._reply("Batch", b)


def _fails(line: dict[str, Any]) -> bool:
    # A line asking for an unknown model gets a 400, as the gateway would answer it.
    return (line.get("body") or {}).get("model") == "no-such-model"


def _answered(cid: Any, status: int, body: dict[str, Any]) -> dict[str, Any]:
    response = {"status_code": status, "request_id": _id("req_"), "body": body}
    return {"id": _id("batch_req_"), "custom_id": cid, "response": response, "error": None}


def _never_ran(cid: Any) -> dict[str, Any]:
    error = {"code": "batch_cancelled", "message": "The batch was cancelled before this ran."}
    return {"id": _id("batch_req_"), "custom_id": cid, "response": None, "error": error}


def _bad_request() -> dict[str, Any]:
    message = "The model `no-such-model` does not exist or you do not have access to it."
    kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": "model_not_found"}}


def _answer(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": (line.get("body") or {}).get("model", "m"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
