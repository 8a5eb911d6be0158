"""kill -9 in the middle of an upload leaves nothing ready, and the gateway
started again on the same data serves on."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx2
from harness.gateway import Gateway
from harness.waiting import poll

from .conftest import CHAT
from .files import adapter, modules

BOUNDARY = "kill9boundary"


def _head_of_upload(config: bytes, weights: bytes) -> tuple[bytes, int]:
    """The multipart body's start (fields, config, the weights' first half) and the
    whole body's length, which the headers announce."""
    parts = b""
    for name, value in (("name", b"half"), ("base_model", CHAT.encode())):
        parts += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  .encode() + value + b"\r\n")  # fmt: skip
    for name, fname, data in (("adapter_config", "adapter_config.json", config),
                              ("adapter_model", "adapter_model.safetensors", weights)):  # fmt: skip
        parts += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{fname}"\r\n\r\n').encode()  # fmt: skip
        parts += data + b"\r\n"
    parts += f"--{BOUNDARY}--\r\n".encode()
    cut = len(parts) - len(weights) // 2
    return parts[:cut], len(parts)


def test_kill9_mid_upload_leaves_nothing_ready(tmp_path: Path) -> None:
    store = tmp_path / "store"
    gw = Gateway(
        tmp_path,
        f"""
        [adapters]
        dir = "{store}"

        [[models]]
        id = "{CHAT}"
        kind = "chat"
        family = "llama3"
        workers = ["http://127.0.0.1:9"]
        """,
        workers=1,
    )
    try:
        gw.start()
        key = gw.new_keys("t1")["t1"]
        config, weights = adapter(tmp_path / "a", modules(CHAT), layers=32)
        head, total = _head_of_upload(config, weights)
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall(
                f"POST /v1/adapters/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {total}\r\n\r\n".encode()
                + head
            )

            def staged() -> int:
                files = list(store.glob(".staging-*/adapter_model.safetensors"))
                return files[0].stat().st_size if files else 0

            assert poll(staged, lambda n: n > 100_000, timeout_s=10)  # mid-stream
            gw.kill9()
        gw.start()
        with httpx2.Client(base_url=gw.url, trust_env=False,
                           headers={"authorization": f"Bearer {key}"}) as c:  # fmt: skip
            assert c.get("/v1/adapters").json()["data"] == []
            assert f"{CHAT}:half" not in [m["id"] for m in c.get("/v1/models").json()["data"]]
        assert [p.name for p in store.iterdir() if not p.name.startswith(".staging-")] == []
    finally:
        gw.stop()
