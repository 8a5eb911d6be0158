"""One simulated worker: routes, admission, faults, and the answer paths.

The common request (no delay, no stream) is answered synchronously inside data_received;
only delays and streams become tasks, so a client disconnect can cancel them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from typing import Any

import orjson

from .. import lora_files, trtllm_protocol
from . import (
    capacity,
    embeddings,
    faults,
    field_knobs,
    openai_checks,
    plan,
    prompt_count,
    render_openai,
    render_trtllm,
    validate,
)
from .config import SimConfig
from .lora_cache import LoraCache
from .memo import Entry, Memo
from .server import (
    DROPPED,
    JSON,
    LAST_CHUNK,
    Handler,
    Result,
    SimConnection,
    SimRequest,
    chunk,
    http_date,
    response,
    status_line,
    stream_head,
)
from .stats import MAX_BATCH, TOKENS_PER_BLOCK, SimStats

VERSION = {"version": trtllm_protocol.TRTLLM_VERSION}
# readiness.py: while STARTING every route answers this (json.dumps' default separators),
# with retry-after and the server-state header, in this header order.
STARTING_BODY = json.dumps(
    {
        "error": {
            "message": (
                "The server is still initializing the model and cannot serve requests yet. "
                "It is listening, so this is not a crash; retry until /health returns 200."
            ),
            "type": "ServiceUnavailableError",
            "code": "starting",
        }
    }
).encode()
STARTING_HEADERS = (
    b"content-type: application/json\r\ncontent-length: "
    + str(len(STARTING_BODY)).encode()
    + b"\r\nretry-after: 1\r\n"
    + trtllm_protocol.SERVER_STATE_HEADER.encode()
    + b": starting\r\n"
)
DONE = chunk(b"data: [DONE]\n\n") + LAST_CHUNK
QUEUE_FULL = "Embedding request queue is full; retry later."


MAX_SHAPES = 1024  # body shapes kept (then forgotten all at once)


def _shape(body: Any) -> tuple[Any, ...] | None:
    """A chat body's fields but messages, each with its type (1, 1.0 and True are equal but
    not to the checks); None without messages or when a field holds a list, an object or a
    long string (kept small: MAX_SHAPES of them)."""
    if body.__class__ is not dict or "messages" not in body:
        return None
    shape = []
    for k, v in body.items():
        if k != "messages":
            kind = v.__class__
            if kind is list or kind is dict or (kind is str and len(v) > 256):
                return None
            shape.append((k, kind, v))
    return tuple(shape)


def _queued_priority(req: SimRequest) -> float:
    """The priority of a request that has to wait for a slot (its body not parsed yet)."""
    try:
        body = orjson.loads(req.body)
    except orjson.JSONDecodeError:
        return validate.DEFAULT_PRIORITY
    return validate.priority_of(body) if isinstance(body, dict) else validate.DEFAULT_PRIORITY


class SimWorker:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.stats = SimStats()
        self.loras = LoraCache(cfg.max_loras, cfg.lora_load_ms / 1000.0)
        self.openai = cfg.openai
        self.r: Any = render_openai if cfg.openai else render_trtllm
        self.rng = random.Random(cfg.seed)
        self.ready_at = time.monotonic() + cfg.starting_s
        self.starting = cfg.starting_s > 0
        self.next_id = 0
        self.auth = ("Bearer " + cfg.api_key).encode() if cfg.openai and cfg.api_key else None
        self.error_rate = cfg.error_rate
        self.ttft = cfg.ttft_ms / 1000.0
        self.token_delay = cfg.token_delay_ms / 1000.0
        self.vectors: dict[Any, list[float]] = {}
        # usage.prompt_tokens as trtllm counts it (prompt_count.py); None: the estimate.
        # The openai profile counts with the estimate unless --tokenizer names one.
        self.counter = (
            None
            if cfg.embedding or (cfg.openai and cfg.tokenizer is None)
            else prompt_count.for_model(cfg.family, cfg.tokenizer)
        )
        # --ignore/refuse/broken-fields (field_knobs.py): answers vary per request, no memo
        self.misbehaving = field_knobs.active(cfg)
        # whether field_knobs has anything to do (the openai profile refuses image parts)
        self.knobs = self.misbehaving or cfg.openai
        # Chat bodies alike but for their messages (the usual traffic: one client, one set of
        # parameters) skip validating those fields again and share their plan.Asks.
        self.shapes: dict[tuple[Any, ...], plan.Asks] = {}
        # Answers of bodies seen before, per endpoint (memo.py): same bytes, fresh ids.
        self.memo = {
            kind: Memo(self.r.ID_BYTES, cfg.memo_entries) for kind in ("chat", "completion")
        }
        self.routes: dict[tuple[bytes, bytes], Handler] = {
            (b"GET", b"/health"): self.health,
            (b"GET", b"/v1/models"): self.models,
            (b"GET", b"/version"): self.version,
            (b"GET", b"/metrics"): self.metrics,
            (b"GET", b"/sim/stats"): self.sim_stats,
        }
        if cfg.embedding:
            self.routes[(b"POST", b"/v1/embeddings")] = self.embeddings
        else:
            self.routes[(b"POST", b"/v1/chat/completions")] = self.chat
            self.routes[(b"POST", b"/v1/completions")] = self.completions
        # --max-batch: generation routes hold one of N slots; none of this when it is off.
        self.capacity = (
            capacity.Capacity(cfg.max_batch, _queued_priority if cfg.priority else None)
            if cfg.max_batch > 0
            else None
        )
        if self.capacity is not None:
            for key, handler in list(self.routes.items()):
                if key[0] == b"POST":
                    self.routes[key] = self.capacity.wrap(handler)
        self.paths = {path for _, path in self.routes}

    def __call__(self, req: SimRequest, conn: SimConnection) -> Result:
        if self.starting and req.path != b"/sim/stats" and self._is_starting():
            return self._starting(req)
        route = self.routes.get((req.method, req.path))
        if route is None:
            return self.not_found(req)
        return route(req, conn)

    # small helpers

    def _json(self, req: SimRequest, status: int, body: bytes, extra: bytes = b"") -> bytes:
        if self.openai:
            extra += b"x-request-id: " + render_openai.request_id() + b"\r\n"
        return response(status, body, JSON, extra, req.keep_alive)

    def _error(
        self,
        req: SimRequest,
        status: int,
        message: str,
        kind: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> bytes:
        self.stats.errors += 1
        if self.openai:
            body = render_openai.error(
                message, kind or render_openai.error_type(status), status, code, param
            )
        else:
            body = render_trtllm.error(message, kind or render_trtllm.error_type(status), status)
        return self._json(req, status, body)

    def _is_starting(self) -> bool:
        if self.starting and time.monotonic() < self.ready_at:
            return True
        self.starting = False
        return False

    def _starting(self, req: SimRequest) -> bytes:
        if self.openai:
            self.stats.requests += 1
            return self._error(req, 503, "The server is starting, retry shortly.")
        return b"".join(
            (
                status_line(503),
                b"date: ",
                http_date(),
                b"\r\nserver: uvicorn\r\n",
                STARTING_HEADERS,
                b"" if req.keep_alive else b"connection: close\r\n",
                b"\r\n",
                STARTING_BODY,
            )
        )

    def not_found(self, req: SimRequest) -> bytes:
        if self.openai:
            return self._error(req, 404, f"Invalid URL ({req.method.decode()} {req.path.decode()})")
        if req.path in self.paths:
            allowed = ", ".join(m.decode() for m, p in self.routes if p == req.path)
            return response(
                405,
                b'{"detail":"Method Not Allowed"}',
                JSON,
                b"allow: " + allowed.encode() + b"\r\n",
                req.keep_alive,
            )
        return response(404, b'{"detail":"Not Found"}', JSON, keep_alive=req.keep_alive)

    # plain endpoints

    def health(self, req: SimRequest, conn: SimConnection) -> bytes:
        return response(200, b"", None, keep_alive=req.keep_alive)

    def models(self, req: SimRequest, conn: SimConnection) -> bytes:
        return self._json(req, 200, self.r.models(self.cfg.model, int(time.time())))

    def version(self, req: SimRequest, conn: SimConnection) -> bytes:
        return self._json(req, 200, orjson.dumps(VERSION))

    def metrics(self, req: SimRequest, conn: SimConnection) -> bytes:
        cap = self.capacity
        if cap is None:
            queued = max(0, self.stats.in_flight - MAX_BATCH)
            return self._json(req, 200, orjson.dumps(self.stats.drain_iterations(queued)))
        # The engine iterates while anything runs; the sim records an iteration only when a
        # request ends, so stand in one for "now" lest a reader see no queue for a while.
        if cap.running and not self.stats.iterations:
            self.stats.tick()
        body = self.stats.drain_iterations(cap.queued, cap.limit)
        return self._json(req, 200, orjson.dumps(body))

    def sim_stats(self, req: SimRequest, conn: SimConnection) -> bytes:
        snap: dict[str, object] = dict(self.stats.snapshot())
        if self.capacity is not None:
            snap["max_batch"] = self.capacity.limit
            snap["running"] = self.capacity.running
            snap["queued"] = self.capacity.queued
            snap["peak_running"] = self.capacity.peak
            snap["peak_queued"] = self.capacity.peak_queued
        c = self.loras
        snap["lora_cache"] = {"slots": c.slots, "hits": c.hits, "misses": c.misses,
                              "evictions": c.evictions, "resident": c.resident()}  # fmt: skip
        return response(200, orjson.dumps(snap), JSON, keep_alive=req.keep_alive)

    # admission and parsing

    def _admit(self, req: SimRequest) -> bytes | None:
        self.stats.requests += 1
        if self.auth is not None and req.headers.get(b"authorization") != self.auth:
            given = req.headers.get(b"authorization")
            if not given:
                msg = (
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                    "YOUR_KEY)."
                )
                return self._error(req, 401, msg, "invalid_request_error")
            shown = given.decode(errors="replace").removeprefix("Bearer ")[:6]
            return self._error(
                req,
                401,
                f"Incorrect API key provided: {shown}***.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if self.cfg.max_queue and self.stats.in_flight >= self.cfg.max_queue:
            msg = QUEUE_FULL if self.cfg.embedding else "Too many requests in flight."
            return self._error(req, 429, msg)
        return None

    def _body(self, req: SimRequest) -> tuple[Any, bytes | None]:
        if not req.body:
            if self.openai:
                return None, self._error(
                    req, 400, "We could not parse the JSON body of your request."
                )
            return None, self._invalid(
                req, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        try:
            return orjson.loads(req.body), None
        except orjson.JSONDecodeError:
            pass
        if self.openai:
            return None, self._error(req, 400, "We could not parse the JSON body of your request.")
        try:
            json.loads(req.body)
            pos, msg = 0, "JSON decode error"
        except json.JSONDecodeError as e:
            pos, msg = e.pos, e.msg
        return None, self._invalid(
            req,
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": msg},
                }
            ],
        )

    def _invalid(self, req: SimRequest, errors: list[dict[str, Any]]) -> bytes:
        self.stats.errors += 1
        return self._json(req, 400, render_trtllm.validation_error(repr(errors)))

    def _openai_check(self, req: SimRequest, body: Any, required: str) -> bytes | None:
        if not isinstance(body, dict):
            return self._error(req, 400, "Invalid body: expected an object.")
        for name in ("model", required):
            if name not in body:
                return self._error(
                    req,
                    400,
                    f"Missing required parameter: '{name}'.",
                    code="missing_required_parameter",
                    param=name,
                )
        if body["model"] != self.cfg.model:
            return self._error(
                req,
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return None

    def _lora_fit(self, req: SimRequest, lora: Any) -> bytes | None:
        """With --architecture, an adapter whose tensors do not fit the model fails to
        load on the worker: an error answer, the request never runs."""
        arch = self.cfg.architecture
        if arch is None or not isinstance(lora, dict) or not lora.get("lora_path"):
            return None
        try:
            lora_files.check_fit(lora["lora_path"], arch)
        except (lora_files.AdapterFileError, OSError) as exc:
            return self._error(req, 400, f"LoRA {lora.get('lora_name')!r} cannot be loaded: {exc}")
        return None

    # generation endpoints

    def chat(self, req: SimRequest, conn: SimConnection) -> Result:
        return self._generate(req, conn, "chat")

    def completions(self, req: SimRequest, conn: SimConnection) -> Result:
        return self._generate(req, conn, "completion")

    def _generate(self, req: SimRequest, conn: SimConnection, kind: str) -> Result:
        if err := self._admit(req):
            return err
        memo = self.memo[kind]
        entry = None if self.misbehaving else memo.get(req.body)
        if entry is not None:
            if not self.openai:
                self.stats.priority_seen(entry.body.get("priority"))
            return self._answer(req, conn, entry.plan, entry.body, kind, entry)
        body, err = self._body(req)
        if err:
            return err
        shape = asks = None
        if self.openai:
            if err := self._openai_check(req, body, "messages" if kind == "chat" else "prompt"):
                return err
            bad = (openai_checks.chat if kind == "chat" else openai_checks.completion)(body)
            if bad is not None:
                return self._error(req, 400, bad.message, code=bad.code, param=bad.param)
        else:
            if kind == "chat" and not self.knobs:
                shape = _shape(body)
                asks = None if shape is None else self.shapes.get(shape)
            try:
                if asks is not None:  # its other fields passed before: only messages to check
                    validate.messages(body)
                else:
                    (validate.chat if kind == "chat" else validate.completion)(body)
                    if "priority" in body:
                        validate.priority(body, self.cfg.priority)
            except validate.RequestInvalid as e:
                return self._invalid(req, e.errors)
            self.stats.priority_seen(body.get("priority"))
            if "lora_request" in body:
                if err := self._lora_fit(req, body["lora_request"]):
                    return err
                if isinstance(lora := body["lora_request"], dict):
                    self.stats.lora_served(lora)
        garbage = False
        asked = body
        if self.knobs:
            if (refused := field_knobs.refusal(body, self.cfg)) is not None:
                return self._error(
                    req, 400, refused.message, code=refused.code, param=refused.param
                )
            garbage = field_knobs.garbage(body, self.cfg)
            body = field_knobs.ignored(body, self.cfg)
        try:
            if kind == "chat":
                p = plan.chat(body, self.cfg, self.openai, self.counter, asks)
            else:
                p = plan.completion(body, self.cfg, self.openai, self.counter)
        except plan.HandlerError as e:
            return self._error(req, e.status, e.message)
        if shape is not None and asks is None:  # valid and planned: its shape is known now
            if len(self.shapes) >= MAX_SHAPES:
                self.shapes.clear()
            self.shapes[shape] = plan.Asks(body, self.cfg)
        if self.knobs:
            field_knobs.break_calls(p, asked, self.cfg)
        if garbage:
            p.triggers = dataclasses.replace(p.triggers, garbage=True)
        lora = body.get("lora_request")
        if isinstance(lora, dict) and isinstance(lid := lora.get("lora_int_id"), int):
            if load_s := self.loras.use(lid):  # a cache miss loads it first
                # a copy: plans without triggers share one default instance
                p.triggers = dataclasses.replace(
                    p.triggers, delay_ms=p.triggers.delay_ms + load_s * 1000.0
                )
        # Remembered for the next time; this answer is rendered as usual (the template is
        # made only when the body comes again: a stream of distinct bodies pays nothing).
        if not self.misbehaving:
            memo.add(req.body, body, p)
        return self._answer(req, conn, p, body, kind, None)

    def _answer(
        self,
        req: SimRequest,
        conn: SimConnection,
        p: plan.AnswerPlan,
        body: dict[str, Any],
        kind: str,
        entry: Entry | None,
    ) -> Result:
        t = p.triggers
        self.stats.last_body = body
        if t.status:
            return self._error(req, t.status, f"Simulated error (status {t.status}).")
        if self.error_rate and self.rng.random() < self.error_rate:
            return self._error(req, 500, "Simulated internal error.")
        stream = bool(body.get("stream"))
        if t.garbage:
            self.stats.served += 1
            if stream:
                return stream_head() + chunk(b"data: {garbage, not json\n\n") + DONE
            return response(200, b"<html>garbage, not json</html>", JSON, keep_alive=req.keep_alive)
        drop_after = t.drop_after
        if (
            stream
            and drop_after is None
            and self.cfg.drop_rate
            and self.rng.random() < self.cfg.drop_rate
        ):
            drop_after = len(p.choices) * p.max_pieces // 2
        if stream:
            return self._stream(conn, p, body, kind, drop_after)
        if drop_after is not None:
            self.stats.dropped += 1
            conn.close()
            return DROPPED
        delay = t.delay_ms / 1000.0 + self.ttft + self.token_delay * p.max_pieces
        if delay > 0:
            return self._delayed(req, p, body, kind, delay, entry)
        self.stats.at_once(self._blocks(p), time.time())
        data = self._body_bytes(p, body, kind, entry)
        if self.openai:
            return self._json(req, 200, data)
        return response(200, data, JSON, b"", req.keep_alive)

    def _blocks(self, p: plan.AnswerPlan) -> int:
        return (p.prompt_tokens + p.completion_tokens) // TOKENS_PER_BLOCK + 1

    def _model(self, body: dict[str, Any]) -> str:
        # trtllm echoes whatever model the request named; it never checks it.
        model = body.get("model")
        return model if isinstance(model, str) else self.cfg.model

    def _body_bytes(
        self, p: plan.AnswerPlan, body: dict[str, Any], kind: str, entry: Entry | None = None
    ) -> bytes:
        if entry is None and kind == "chat":  # a fresh body's answer: rendered once
            return self.r.chat_body(p, self._model(body), int(time.time()))  # type: ignore[no-any-return]
        memo = self.memo[kind]
        if entry is not None and entry.template:  # ready (None: not made yet; False: none)
            return memo.splice(entry.template)  # type: ignore[arg-type]

        def render(created: int, new_id: Any = None) -> bytes:
            ids = {} if new_id is None else {"new_id": new_id}
            if kind == "chat":
                return self.r.chat_body(p, self._model(body), created, **ids)
            prompts = body.get("prompt")
            merged = (
                isinstance(prompts, list)
                and bool(prompts)
                and not isinstance(prompts[0], int)
                and len(prompts) > 1
            )
            model = self.cfg.model if merged and not self.openai else self._model(body)
            return self.r.completion_body(p, model, created, merged, **ids)

        if entry is not None:
            return memo.fill(entry, render)
        return render(int(time.time()))

    async def _delayed(
        self,
        req: SimRequest,
        p: plan.AnswerPlan,
        body: dict[str, Any],
        kind: str,
        delay: float,
        entry: Entry | None,
    ) -> bytes:
        blocks = self._blocks(p)
        started = time.time()
        self.stats.begin(blocks)
        try:
            await asyncio.sleep(delay)
            data = self._json(req, 200, self._body_bytes(p, body, kind, entry))
            self.stats.served += 1
            return data
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        finally:
            self.stats.end(blocks, started)

    async def _stream(
        self,
        conn: SimConnection,
        p: plan.AnswerPlan,
        body: dict[str, Any],
        kind: str,
        drop_after: int | None,
    ) -> bytes | None:
        blocks = self._blocks(p)
        started = time.time()
        self.stats.begin(blocks)
        self.next_id += 1
        cls = self.r.ChatStream if kind == "chat" else self.r.CompletionStream
        s = cls(p, self._model(body), int(started), self.next_id, body.get("stream_options"))
        try:
            extra = b"x-request-id: " + render_openai.request_id() + b"\r\n" if self.openai else b""
            conn.write(stream_head(extra=extra))
            wait = p.triggers.delay_ms / 1000.0 + self.ttft
            if wait > 0:
                await asyncio.sleep(wait)
            for event in s.first():
                conn.write(chunk(event))
            sent = 0
            for step in range(p.max_pieces):
                if step and self.token_delay > 0:
                    await asyncio.sleep(self.token_delay)
                for i, c in enumerate(p.choices):
                    if step < len(c.pieces):
                        if drop_after is not None and sent >= drop_after:
                            return self._drop(conn, kind)
                        conn.write(chunk(s.token(i, step)))
                        sent += 1
                await conn.drain()
            if drop_after is not None:
                return self._drop(conn, kind)
            usage = s.usage_event()
            if usage is not None:
                conn.write(chunk(usage))
            conn.write(DONE)
            self.stats.served += 1
            return None
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        finally:
            self.stats.end(blocks, started)

    def _drop(self, conn: SimConnection, kind: str) -> bytes:
        # trtllm's chat stream just dies on an engine error (no [DONE]); the completions
        # path and a plain OpenAI provider send an error event first.
        if kind != "chat" or self.openai:
            conn.write(chunk(self.r.stream_error("Simulated failure mid-stream.")))
        self.stats.dropped += 1
        conn.close()
        return DROPPED

    # embeddings

    def embeddings(self, req: SimRequest, conn: SimConnection) -> Result:
        if err := self._admit(req):
            return err
        body, err = self._body(req)
        if err:
            return err
        if self.openai:
            if err := self._openai_check(req, body, "input"):
                return err
        else:
            try:
                validate.embedding(body)
            except validate.RequestInvalid as e:
                return self._invalid(req, e.errors)
        if (refused := field_knobs.refusal(body, self.cfg)) is not None:
            return self._error(req, 400, refused.message, code=refused.code, param=refused.param)
        if field_knobs.garbage(body, self.cfg):
            return response(200, b"<html>garbage, not json</html>", JSON, keep_alive=req.keep_alive)
        body = field_knobs.ignored(body, self.cfg)
        items = embeddings.inputs(body["input"])
        if not items:
            return self._error(req, 400, "input must not be empty")
        dims = body.get("dimensions")
        full = self.cfg.dimensions
        if dims is not None and int(dims) > full:
            return self._error(
                req, 400, f"dimensions ({dims}) exceeds the model's embedding size ({full})."
            )
        t = faults.parse("\n".join(i for i in items if isinstance(i, str)))
        if t.status:
            return self._error(req, t.status, f"Simulated error (status {t.status}).")
        if t.garbage:
            return response(200, b"<html>garbage, not json</html>", JSON, keep_alive=req.keep_alive)
        b64 = body.get("encoding_format") == "base64"
        vectors: list[Any] = []
        for item in items:
            vec = self._vector(item)
            if dims is not None and int(dims) < full:
                vec = embeddings.truncate(vec, int(dims))
            vectors.append(embeddings.encode_base64(vec) if b64 else vec)
        data = self.r.embedding_body(
            vectors, self._model(body), int(time.time()), embeddings.token_count(items)
        )
        if t.delay_ms > 0:
            return self._delayed_bytes(req, data, t.delay_ms / 1000.0)
        self.stats.served += 1
        return self._json(req, 200, data)

    def _vector(self, item: str | list[int]) -> list[float]:
        key = item if isinstance(item, str) else tuple(item)
        vec = self.vectors.get(key)
        if vec is None:
            if len(self.vectors) > 4096:
                self.vectors.clear()
            vec = self.vectors[key] = embeddings.vector(item, self.cfg.dimensions)
        return vec

    async def _delayed_bytes(self, req: SimRequest, data: bytes, delay: float) -> bytes:
        self.stats.begin(1)
        started = time.time()
        try:
            await asyncio.sleep(delay)
            self.stats.served += 1
            return self._json(req, 200, data)
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        finally:
            self.stats.end(1, started)
