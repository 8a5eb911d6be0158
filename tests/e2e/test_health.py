"""GET /health (liveness with each model's workers) and GET /health/ready (readiness)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx2
from harness.gateway import Gateway

from .conftest import ALL_MODELS, DOWN_MODEL, Stack


def test_health_names_each_models_workers(raw: httpx2.Client) -> None:
    r = raw.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert set(body["models"]) == set(ALL_MODELS)
    assert body["models"][DOWN_MODEL] == {"ready_workers": 0, "workers": 1}
    assert body["models"]["llama-3.1-8b-instruct"] == {"ready_workers": 1, "workers": 1}


def test_ready_without_models_is_200(raw: httpx2.Client) -> None:
    r = raw.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


def test_ready_for_named_models(raw: httpx2.Client) -> None:
    ok = raw.get("/health/ready", params={"model": ["gpt-4o-mini", "bge-m3"]})
    assert ok.status_code == 200, ok.text
    assert set(ok.json()["models"]) == {"llama-3.1-8b-instruct", "bge-m3"}
    down = raw.get("/health/ready", params={"model": ["gpt-4o-mini", DOWN_MODEL]})
    assert down.status_code == 503, down.text
    assert down.json()["status"] == "unready"
    assert down.json()["unready_models"] == [DOWN_MODEL]


def test_ready_for_an_unknown_model_is_404(raw: httpx2.Client) -> None:
    r = raw.get("/health/ready", params={"model": "no-such-model"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


def test_openapi_documents_both(raw: httpx2.Client, stack: Stack) -> None:
    paths = raw.get("/openapi.json").json()["paths"]
    assert set(paths["/health/ready"]["get"]["responses"]) >= {"200", "503"}
    assert "200" in paths["/health"]["get"]["responses"]


def test_sigterm_drains_before_stopping(tmp_path: Path) -> None:
    """After SIGTERM, /health/ready answers 503 for drain_delay_s while calls still work."""
    gw = Gateway(
        tmp_path,
        """\
        [server]
        drain_delay_s = 3.0

        [[models]]
        id = "llama-3.1-8b-instruct"
        kind = "chat"
        family = "llama3"
        context_length = 131072
        simulate = true
        """,
        name="serve-drain",
    )
    key = gw.create_key("drain")
    root = gw.url
    try:
        gw.start(60, ready="/health/ready?model=llama-3.1-8b-instruct")
        serve = gw.proc
        assert serve is not None
        os.kill(serve.popen.pid, signal.SIGTERM)  # the launcher only, as an orchestrator does
        signalled = time.monotonic()
        with httpx2.Client(base_url=root, timeout=10, trust_env=False) as client:
            ready = client.get("/health/ready")
            for _ in range(50):
                if ready.status_code == 503:
                    break
                time.sleep(0.05)
                ready = client.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "draining"
            assert client.get("/health").status_code == 200  # alive while draining
            chat = client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "model": "llama-3.1-8b-instruct",
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            assert chat.status_code == 200, chat.text
            assert time.monotonic() - signalled < 3.0, "the drain checks took too long"
        serve.popen.wait(30)
        assert time.monotonic() - signalled >= 3.0, "stopped before drain_delay_s"
    finally:
        gw.stop(5)
