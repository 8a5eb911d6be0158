"""The ASGI application: a route table, one error boundary, request metrics.

Routing is data (path → method → handler). Every failure below the boundary
becomes OpenAI's error envelope; nothing a client sends can crash a worker
process or show it a traceback.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from . import config as config_mod
from .asgi import ClientGone, Receive, Request, Scope, Send
from .batch.runner import Runner
from .batch.runner_process import EXTERNAL as RUNNER_EXTERNAL
from .batch.runner_process import RUNNER_ENV
from .body_deadline import BodyDeadlines
from .cors import Cors, is_preflight
from .error_catalog import INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOR_BROWSERS, UNKNOWN_URL
from .errors import ApiError, quote
from .gateway import Gateway
from .handlers.adapters import (
    create_from_hub,
    delete_adapter,
    list_adapters,
    retrieve_adapter,
    upload,
)
from .handlers.admin import reload
from .handlers.batches import (
    batch_cancel,
    batch_get,
    batch_list,
    batch_submit,
    batches_cancel,
    batches_get,
    create_batch,
    list_batches,
)
from .handlers.embeddings import embeddings
from .handlers.files import create_file, file_delete, file_get, list_files
from .handlers.generate import chat_completions, completions
from .handlers.meta import health, metrics, openapi, ready
from .handlers.models import list_models, retrieve_model
from .handlers.usage import usage
from .misdirected import endpoints, misdirected
from .parent_death import die_with_parent
from .unserved import method_not_provided, not_provided
from .websocket_refusal import refuse
from .worker_signals import stop_once
from .write_deadline import WriteDeadlines

log = logging.getLogger("provocapi")

GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)

Handler = Callable[[Gateway, Request], Awaitable[str]]

ROUTES: dict[str, dict[str, Handler]] = {
    "/v1/chat/completions": {"POST": chat_completions},
    "/v1/completions": {"POST": completions},
    "/v1/embeddings": {"POST": embeddings},
    "/v1/models": {"GET": list_models},
    "/health": {"GET": health},
    "/health/ready": {"GET": ready},
    "/metrics": {"GET": metrics},
    "/openapi.json": {"GET": openapi},
    "/v1/usage": {"GET": usage},
    "/admin/reload": {"POST": reload},
    "/v1/files": {"POST": create_file, "GET": list_files},
    "/v1/batches": {"POST": create_batch, "GET": list_batches},
    "/v1/batch": {"POST": batch_submit, "GET": batch_list},
    "/v1/adapters": {"GET": list_adapters, "POST": create_from_hub},
    "/v1/adapters/upload": {"POST": upload},
}
PREFIX_ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/v1/models/", {"GET": retrieve_model}),
    # the handlers tell {id} from {id}/content, {id}/cancel, {id}/output
    ("/v1/files/", {"GET": file_get, "DELETE": file_delete}),
    ("/v1/batches/", {"GET": batches_get, "POST": batches_cancel}),
    ("/v1/batch/", {"GET": batch_get, "POST": batch_cancel}),
    ("/v1/adapters/", {"GET": retrieve_adapter, "DELETE": delete_adapter}),
]
# the documented (path, method) pairs each prefix route serves (/openapi.json)
PREFIX_DOCUMENTED: dict[str, tuple[tuple[str, str], ...]] = {
    "/v1/models/": (("/v1/models/{model}", "GET"),),
    "/v1/files/": (
        ("/v1/files/{file_id}", "GET"),
        ("/v1/files/{file_id}", "DELETE"),
        ("/v1/files/{file_id}/content", "GET"),
    ),
    "/v1/batches/": (
        ("/v1/batches/{batch_id}", "GET"),
        ("/v1/batches/{batch_id}/cancel", "POST"),
    ),
    "/v1/batch/": (
        ("/v1/batch/{batch_id}", "GET"),
        ("/v1/batch/{batch_id}/cancel", "POST"),
        ("/v1/batch/{batch_id}/output", "GET"),
    ),
    "/v1/adapters/": (
        ("/v1/adapters/{adapter_id}", "GET"),
        ("/v1/adapters/{adapter_id}", "DELETE"),
    ),
}
# metric label per route: bounded cardinality, whatever paths clients send
_ENDPOINT = {path: path for path in ROUTES} | {
    "/v1/models/": "/v1/models/{id}",
    "/v1/files/": "/v1/files/{id}",
    "/v1/batches/": "/v1/batches/{id}",
    "/v1/batch/": "/v1/batch/{id}",
    "/v1/adapters/": "/v1/adapters/{id}",
}


# what a path misdirected by a client's base_url meant (misdirected.py)
_ENDPOINTS = endpoints(ROUTES)


def _shapes() -> dict[str, dict[str, dict[str, Handler]]]:
    """Per prefix route, the methods of each documented tail after its {id} ("" for
    the object itself, "cancel", "content", "output"). Model ids may hold "/", so
    /v1/models/ keeps every path for its handler."""
    handlers = dict(PREFIX_ROUTES)
    shaped: dict[str, dict[str, dict[str, Handler]]] = {}
    for prefix, documented in PREFIX_DOCUMENTED.items():
        if prefix == "/v1/models/":
            continue
        tails = shaped.setdefault(prefix, {})
        for template, method in documented:
            tail = template.partition("}")[2].removeprefix("/")
            tails.setdefault(tail, {})[method] = handlers[prefix][method]
    return shaped


# a wrong method on /v1/batches/{id} is a 405 naming what that path takes, as on the
# fixed routes; a tail no route has is a 404 before any store is asked
_SHAPED = _shapes()


def _methods(prefix: str, req: Request) -> dict[str, Handler] | None:
    """The methods of the path under a shaped prefix; None: a tail no route has."""
    return _SHAPED[prefix].get(req.path[len(prefix) :].partition("/")[2])


def _route(path: str) -> tuple[str, dict[str, Handler]] | None:
    methods = ROUTES.get(path)
    if methods is not None:
        return path, methods
    for prefix, methods in PREFIX_ROUTES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix, methods
    return None


# need no key, so no browser page may call them (cors.py, NOT_FOR_BROWSERS)
_NOT_FOR_BROWSERS = frozenset({"/health", "/health/ready", "/metrics"})


def _allowed(methods: dict[str, Handler]) -> list[str]:
    allowed = list(methods)
    if "GET" in methods:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


class App:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        # Under `provocapi serve` batches run in their own process (runner_process.py);
        # an app built alone runs them here. A lease keeps each batch on one runner.
        if os.environ.get(RUNNER_ENV) != RUNNER_EXTERNAL:
            gw.background.append(Runner(gw).run)
        # [server] keeps its start-up values across reloads
        self.body_deadlines = BodyDeadlines(gw.cfg.server.body_read_timeout_s)
        self.write_deadlines = WriteDeadlines(gw.cfg.server.write_timeout_s)
        self.cors = Cors(gw.cfg.server)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(
                Request(scope, receive, send, self.body_deadlines, self.write_deadlines)
            )
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        elif kind == "websocket":
            await refuse(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.gw.start_background()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.gw.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, req: Request) -> None:
        model = "-"
        route = _route(req.path)
        endpoint = _ENDPOINT[route[0]] if route else "unknown"
        try:
            if req.origin is not None:  # a browser page's call (a server's sends none)
                self._cross_origin(req, endpoint)
            methods = route[1] if route is not None else None
            if route is not None and route[0] in _SHAPED:
                methods = _methods(route[0], req)
            handler = methods.get(req.method) if methods is not None else None
            if handler is None and req.method == "HEAD" and methods is not None:
                # HEAD is GET without the content (RFC 9110 9.3.2; uptime monitors
                # probe with it): the GET handler answers, Granian leaves the body out
                handler = methods.get("GET")
            if handler is not None:
                model = await handler(self.gw, req)
            elif req.method == "OPTIONS" and (methods is not None or is_preflight(req)):
                await self.cors.options(req, _allowed(methods) if methods is not None else None)
            elif methods is None:
                raise (
                    misdirected(req.method, req.path, _ENDPOINTS)
                    or not_provided(req.method, req.path)
                    or UNKNOWN_URL.build(method=quote(req.method), path=quote(req.path))
                )
            else:
                allow = ", ".join([*_allowed(methods), "OPTIONS"])
                raise method_not_provided(req.method, req.path) or METHOD_NOT_ALLOWED.build(
                    method=quote(req.method),
                    path=quote(req.path),
                    allow=allow,
                    headers=[(b"allow", allow.encode())],
                )
        except ApiError as err:
            await self._error(req, err)
        except ClientGone:
            req.reply.client_gone = True
        except Exception:
            log.exception("unhandled error on %s %s", req.method, req.path)
            await self._error(
                req,
                INTERNAL_ERROR.build(request_id=req.request_id.decode()),
            )
        finally:
            self.gw.answered += 1
            self.gw.telemetry.request_done(
                endpoint, model, req.reply.outcome, time.perf_counter() - req.started
            )

    def _cross_origin(self, req: Request, endpoint: str) -> None:
        """Answers readable by the page, or 403 (cors.py)."""
        if endpoint in _NOT_FOR_BROWSERS:
            raise NOT_FOR_BROWSERS.build(path=endpoint)
        self.cors.admit(req, req.origin or b"")

    async def _error(self, req: Request, err: ApiError) -> None:
        # The reply knows what the client was sent: the envelope before the start, the
        # stream's error event after (a waking pool's keep-alives opened it), else nothing.
        await req.reply.error(err, self.gw.cfg.server.retry_after_s)


def create_app() -> App:
    """Granian's factory: the launcher passes the config through the environment."""
    logging.basicConfig(level=os.environ.get("PROVOCAPI_LOG_LEVEL", "INFO"))
    cfg_path = os.environ.get("PROVOCAPI_EFFECTIVE_CONFIG")
    if cfg_path:  # a Granian worker of `provocapi serve`: it ends when serve does
        stop_once()  # Ctrl-C pressed three times hung it (worker_signals.py)
        # SIGKILL, not SIGTERM: orphaned, a worker stayed serving in 1 of 100 tries even
        # stopping once (a SIGTERM lost, maybe between two runs of the loop). Each call's
        # usage is on the spool already: one cut short is read as interrupted.
        launcher = multiprocessing.parent_process()
        die_with_parent(signal.SIGKILL, launcher.pid if launcher else None)
        cfg = config_mod.from_json(Path(cfg_path).read_bytes())
    else:
        cfg = config_mod.load(os.environ.get("PROVOCAPI_CONFIG"))
    data_dir = os.environ.get("PROVOCAPI_DATA_DIR", ".provocapi")
    state_file = os.environ.get("PROVOCAPI_STATE_FILE")
    app = App(Gateway(cfg, data_dir, state_file))
    settle_heap()
    return app


def settle_heap() -> None:
    """Keep the collector off the request path.

    Everything built at start-up (config, catalogue, tokenizer wrappers, modules)
    lives as long as the process: freezing it spares every later full collection
    a walk over it, which otherwise showed as 20+ ms stalls in the p99. A larger
    young generation makes collections rarer; request garbage is mostly freed by
    reference counting anyway.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
