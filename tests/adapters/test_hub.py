"""POST /v1/adapters: an adapter from a Hugging Face repo, against a local hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from harness.waiting import poll

from .conftest import CHAT, MAX_UPLOAD, Env
from .files import adapter, modules
from .hub_server import Repo
from .test_adapters import chat


def create(env: Env, name: str, repo: str, **extra: Any) -> dict[str, Any]:
    with env.http("t1") as t1:
        r = t1.post("/v1/adapters", json={"name": name, "base_model": CHAT, "repo": repo, **extra})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def settled(env: Env, adapter_id: str) -> dict[str, Any]:
    def look() -> dict[str, Any]:
        with env.http("t1") as t1:
            got: dict[str, Any] = t1.get(f"/v1/adapters/{adapter_id}").json()
            return got

    return poll(look, lambda a: a["status"] != "pending", timeout_s=20)


def files(tmp_path: Path, **kw: Any) -> dict[str, bytes]:
    config, weights = adapter(tmp_path / "hub", modules(CHAT), **kw)
    return {"adapter_config.json": config, "adapter_model.safetensors": weights}


def test_from_a_repo_to_a_served_adapter(env: Env, tmp_path: Path) -> None:
    env.hub.repos["acme/support-lora"] = Repo(files(tmp_path))
    first = create(env, "from-hub", "acme/support-lora")
    assert first["status"] in ("pending", "ready")
    assert first["source"] == {"type": "huggingface", "repo": "acme/support-lora",
                               "revision": None}  # fmt: skip
    got = settled(env, first["id"])
    assert got["status"] == "ready", got
    assert got["rank"] == 2 and got["target_modules"] == ["q_proj", "v_proj"]
    assert chat(env, "t1", f"{CHAT}:from-hub") == f"{CHAT}:from-hub"
    assert sorted((env.store / first["id"]).iterdir()) == [
        env.store / first["id"] / "adapter_config.json",
        env.store / first["id"] / "adapter_model.safetensors",
    ]


def test_a_gated_repo_takes_the_token_once_and_keeps_it_nowhere(env: Env, tmp_path: Path) -> None:
    secret = "hf_secret_token_7a1c"
    env.hub.repos["acme/gated"] = Repo(files(tmp_path), gated_token=secret)
    refused = settled(env, create(env, "gated-no-token", "acme/gated")["id"])
    assert refused["status"] == "failed" and "gated" in refused["error"]
    ok = settled(env, create(env, "gated", "acme/gated", hf_token=secret)["id"])
    assert ok["status"] == "ready", ok
    assert secret not in str(ok)
    data_dir = env.gateway.data_dir
    for path in [*data_dir.rglob("*"), *env.store.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_failures_say_why(env: Env, tmp_path: Path) -> None:
    env.hub.repos["acme/pickled"] = Repo({"adapter_config.json": b"{}",
                                          "adapter_model.bin": b"\x80\x04"})  # fmt: skip
    env.hub.repos["acme/dora"] = Repo(files(tmp_path, config={"use_dora": True}))
    big = files(tmp_path)
    big["adapter_model.safetensors"] += b"\0" * MAX_UPLOAD
    env.hub.repos["acme/big"] = Repo(big)
    want = {
        "acme/missing": "does not exist",
        "acme/pickled": ".bin",
        "acme/dora": "use_dora",
        "acme/big": "above the limit",
    }
    for i, (repo, says) in enumerate(want.items()):
        got = settled(env, create(env, f"bad-{i}", repo)["id"])
        assert got["status"] == "failed" and says in got["error"], got
    with env.http("t1") as t1:
        assert t1.post("/v1/adapters", json={"name": "x", "base_model": CHAT,
                                              "repo": "../etc"}).status_code == 400  # fmt: skip
        r = t1.post("/v1/adapters", json={"name": "x", "base_model": CHAT, "repo": "a/b", "foo": 1})
        assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"
    assert not [p for p in env.store.iterdir() if p.name.startswith(".staging-")]
    # a failed adapter is never served
    with pytest.raises(openai.NotFoundError):
        chat(env, "t1", f"{CHAT}:bad-2")
