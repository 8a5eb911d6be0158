"""/v1/adapters end to end: upload, list, get, serve through the openai SDK as
`base:name`, delete; tenant isolation; every validation failure's status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from harness.waiting import poll

from .conftest import CHAT, MAX_PER_TENANT, MAX_UPLOAD, Env
from .files import adapter, modules


def upload(
    client: httpx2.Client, name: str, base: str, files: tuple[bytes, bytes]
) -> httpx2.Response:
    config, weights = files
    return client.post(
        "/v1/adapters/upload",
        data={"name": name, "base_model": base},
        files={
            "adapter_config": ("adapter_config.json", config, "application/json"),
            "adapter_model": ("adapter_model.safetensors", weights, "application/octet-stream"),
        },
    )


def good(tmp_path: Path, model: str = CHAT, **kw: Any) -> tuple[bytes, bytes]:
    return adapter(tmp_path / "a", modules(model), **kw)


def chat(env: Env, tenant: str, model: str, stream: bool = False) -> str:
    with openai.OpenAI(base_url=f"{env.url}/v1", api_key=env.keys[tenant], max_retries=0) as c:
        messages: Any = [{"role": "user", "content": "hello"}]
        if not stream:
            resp = c.chat.completions.create(model=model, messages=messages, max_tokens=4)
            assert resp.choices[0].message.content
            return resp.model
        parts = list(c.chat.completions.create(model=model, messages=messages, stream=True))
        assert parts
        return parts[0].model


def test_upload_list_get_use_delete(env: Env, tmp_path: Path) -> None:
    with env.http("t1") as t1:
        r = upload(t1, "support-bot", "gpt-4o-mini", good(tmp_path, layers=32))  # an alias
        assert r.status_code == 200, r.text
        obj = r.json()
        assert obj["object"] == "adapter" and obj["status"] == "ready"
        assert obj["base_model"] == CHAT and obj["name"] == "support-bot"
        assert obj["rank"] == 2 and obj["target_modules"] == ["q_proj", "v_proj"]
        assert obj["bytes"] > 1_000_000 and obj["source"] == {"type": "upload"}
        aid = obj["id"]
        assert t1.get(f"/v1/adapters/{aid}").json() == obj
        listed = t1.get("/v1/adapters").json()
        assert [a["id"] for a in listed["data"]] == [aid] and listed["has_more"] is False
        assert (env.store / aid / "adapter_model.safetensors").is_file()

        public = f"{CHAT}:support-bot"
        assert chat(env, "t1", public) == public
        assert chat(env, "t1", public, stream=True) == public
        served = [
            v for v in env.sim_loras().values() if v["lora_path"] == f"{env.worker_view}/{aid}"
        ]
        assert len(served) == 1 and served[0]["requests"] == 2
        models = t1.get("/v1/models").json()["data"]
        listed_card = next(m for m in models if m["id"] == public)
        assert (listed_card["object"], listed_card["owned_by"]) == ("model", "t1")
        assert listed_card["base_model"] == CHAT
        card = t1.get(f"/v1/models/{public}").json()
        assert card == listed_card

        # the other tenant sees nothing of it, by id or by name
        with env.http("t2") as t2:
            assert t2.get(f"/v1/adapters/{aid}").status_code == 404
            assert t2.delete(f"/v1/adapters/{aid}").status_code == 404
            assert t2.get("/v1/adapters").json()["data"] == []
            assert t2.get(f"/v1/models/{public}").status_code == 404
        with pytest.raises(openai.NotFoundError) as exc:
            chat(env, "t2", public)
        assert exc.value.code == "adapter_not_found"
        # the admin key lists every tenant's
        with env.http(None) as admin:
            assert aid in [a["id"] for a in admin.get("/v1/adapters").json()["data"]]

        gone = t1.delete(f"/v1/adapters/{aid}")
        assert gone.json() == {"id": aid, "object": "adapter.deleted", "deleted": True}
        assert t1.get(f"/v1/adapters/{aid}").status_code == 404
        time.sleep(1.0)  # the documented bound for every gateway process
        for _ in range(6):  # fresh connections reach both worker processes
            with pytest.raises(openai.NotFoundError) as exc:
                chat(env, "t1", public)
            assert exc.value.code == "adapter_not_found"
        assert public not in [m["id"] for m in t1.get("/v1/models").json()["data"]]
    # then its files go (delete_grace_s = 0 here; the sweep runs every 5 s)
    assert poll(lambda: not (env.store / aid).exists(), bool, 15)


def test_same_name_in_two_tenants_and_409_within_one(env: Env, tmp_path: Path) -> None:
    files = good(tmp_path)
    with env.http("t1") as t1, env.http("t2") as t2:
        a = upload(t1, "twin", CHAT, files).json()
        b = upload(t2, "twin", CHAT, files).json()
        assert a["id"] != b["id"]
        dup = upload(t1, "twin", CHAT, files)
        assert dup.status_code == 409 and dup.headers["x-should-retry"] == "false"
        assert dup.json()["error"]["code"] == "adapter_exists"
        for tenant in ("t1", "t2"):
            chat(env, tenant, f"{CHAT}:twin")
        paths = {v["lora_path"] for v in env.sim_loras().values()}
        assert {f"{env.worker_view}/{a['id']}", f"{env.worker_view}/{b['id']}"} <= paths
        t1.delete(f"/v1/adapters/{a['id']}")
        t2.delete(f"/v1/adapters/{b['id']}")


def test_lora_int_id_never_reused(env: Env, tmp_path: Path) -> None:
    files = good(tmp_path)
    seen: set[int] = set()
    with env.http("t1") as t1:
        for _ in range(3):
            aid = upload(t1, "again", CHAT, files).json()["id"]
            chat(env, "t1", f"{CHAT}:again")
            ids = [int(k) for k, v in env.sim_loras().items() if v["lora_path"].endswith(aid)]
            assert len(ids) == 1 and ids[0] >= 1_000_000 and ids[0] not in seen
            seen.add(ids[0])
            assert t1.delete(f"/v1/adapters/{aid}").status_code == 200


def _bad(tmp_path: Path, model: str, **kw: Any) -> tuple[bytes, bytes]:
    return adapter(tmp_path / "bad", kw.pop("mods", None) or modules(model), **kw)


def _wrong_q(model: str, hidden: int, out: int) -> dict[str, tuple[int, int]]:
    return {"q_proj": (hidden, out)}


CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "rank above the workers' maximum": (CHAT, {"rank": 128}, "above"),
    "dtype": (CHAT, {"dtype": "F64"}, "F64"),
    "target module outside the workers' LoRA": (
        CHAT, {"mods": modules(CHAT, ("gate_proj",))}, "outside"),
    "DoRA": (CHAT, {"config": {"use_dora": True}}, "use_dora"),
    "modules_to_save": (CHAT, {"config": {"modules_to_save": ["lm_head"]}}, "modules_to_save"),
    "rank disagrees with the tensors": (CHAT, {"config": {"r": 4}}, "shape"),
    "config names modules it has no weights for": (
        CHAT, {"config": {"target_modules": ["q_proj", "v_proj", "k_proj"]}}, "no weights"),
    "llama3 70b shape": ("llama-3.1-70b-instruct", {"mods": _wrong_q("x", 4096, 4096)}, "shape"),
    "llama3 8b layer": (CHAT, {"layers": 33}, "layer 32"),
    "qwen2 shape": ("qwen-2.5-72b-instruct", {"mods": {"k_proj": (8192, 8192)}}, "shape"),
    # hidden / heads would say 160 per head: the true head_dim is 128
    "mistral head_dim": ("mistral-small-3-24b", {"mods": {"q_proj": (5120, 5120)}}, "[5120, 2]"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_validation_failures_are_400(env: Env, tmp_path: Path, case: str) -> None:
    model, kw, says = CASES[case]
    with env.http("t1") as t1:
        r = upload(t1, "bad", model, _bad(tmp_path, model, **kw))
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]["message"]


@pytest.mark.parametrize("model", ["llama-3.1-70b-instruct", "qwen-2.5-72b-instruct",
                                   "mistral-small-3-24b"])  # fmt: skip
def test_every_family_accepts_its_true_shapes(env: Env, tmp_path: Path, model: str) -> None:
    mods = modules(model, ("q_proj", "k_proj", "v_proj", "o_proj"))
    with env.http("t1") as t1:
        r = upload(t1, f"ok-{model}", model, adapter(tmp_path / "a", mods, rank=1))
        assert r.status_code == 200, r.text
        assert t1.delete(f"/v1/adapters/{r.json()['id']}").status_code == 200


def test_bad_files_and_bases(env: Env, tmp_path: Path) -> None:
    config, weights = good(tmp_path)
    with env.http("t1") as t1:
        cut = upload(t1, "cut", CHAT, (config, weights[:-100]))
        assert cut.status_code == 400 and "truncated" in cut.json()["error"]["message"]
        junk = upload(t1, "junk", CHAT, (config, b"\x80" * 64))
        assert junk.status_code == 400 and "safetensors" in junk.json()["error"]["message"]
        emb = upload(t1, "emb", "bge-m3", (config, weights))
        assert emb.status_code == 400 and "embedding" in emb.json()["error"]["message"]
        unknown = upload(t1, "u", "no-such-model", (config, weights))
        assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "base_model"
        big = upload(t1, "big", CHAT, (config, weights + b"\0" * MAX_UPLOAD))
        assert big.status_code == 413
        # none of them was kept (by name: another test's failure may leave its own)
        names = {a["name"] for a in t1.get("/v1/adapters").json()["data"]}
        assert not names & {"cut", "junk", "emb", "u", "big"}
    leftovers = [p.name for p in env.store.iterdir()]
    assert not [n for n in leftovers if n.startswith(".staging-")]


def test_tenant_quota_in_count_and_bytes(env: Env, tmp_path: Path) -> None:
    small, big = good(tmp_path / "s"), good(tmp_path / "b", layers=32)  # ~26 KB, ~1.7 MB
    made: list[str] = []
    with env.http("t2") as t2:
        try:
            first = upload(t2, "big-0", CHAT, big)
            assert first.status_code == 200, first.text
            made.append(first.json()["id"])
            over = upload(t2, "big-1", CHAT, big)  # 2 x 1.7 MB > 3 MiB
            assert over.status_code == 403 and "bytes" in over.json()["error"]["message"]
            for i in range(MAX_PER_TENANT - 1):
                r = upload(t2, f"small-{i}", CHAT, small)
                assert r.status_code == 200, r.text
                made.append(r.json()["id"])
            full = upload(t2, "one-more", CHAT, small)
            assert (
                full.status_code == 403 and full.json()["error"]["code"] == "adapter_quota_exceeded"
            )
            assert full.headers["x-should-retry"] == "false"
            # a delete frees its place
            assert t2.delete(f"/v1/adapters/{made.pop()}").status_code == 200
            again = upload(t2, "one-more", CHAT, small)
            assert again.status_code == 200
            made.append(again.json()["id"])
        finally:
            for aid in made:
                t2.delete(f"/v1/adapters/{aid}")


def test_a_call_in_flight_finishes_after_its_adapter_is_deleted(env: Env, tmp_path: Path) -> None:
    with env.http("t1") as t1:
        aid = upload(t1, "inflight", CHAT, good(tmp_path)).json()["id"]
        with openai.OpenAI(base_url=f"{env.url}/v1", api_key=env.keys["t1"], max_retries=0) as c:
            stream = c.chat.completions.create(
                model=f"{CHAT}:inflight",
                messages=[{"role": "user", "content": "slow [sim:delay_ms=1000]"}],
                stream=True,
            )
            assert t1.delete(f"/v1/adapters/{aid}").status_code == 200  # while it runs
            parts = list(stream)
            assert parts and parts[0].model == f"{CHAT}:inflight"
            with pytest.raises(openai.NotFoundError):
                chat(env, "t1", f"{CHAT}:inflight")


def test_an_unknown_after_is_404_not_the_first_page(env: Env, tmp_path: Path) -> None:
    """`after` positioned the list (`id > ?`) whatever it named, so a pager that lost
    its place carried on from a guess; files and batches answer 404 `param: "after"`."""
    files = good(tmp_path)
    made: list[str] = []
    with env.http("t1") as t1, env.http("t2") as t2, env.http(None) as admin:
        try:
            for i in range(3):
                made.append(upload(t1, f"page-{i}", CHAT, files).json()["id"])
            gone = made.pop()
            assert t1.delete(f"/v1/adapters/{gone}").status_code == 200
            theirs = upload(t2, "theirs", CHAT, files).json()["id"]
            made.append(theirs)
            for client, query, after in (
                (t1, "", "adp_nope"),
                (t1, "", gone),  # deleted: as GET /v1/adapters/{id} says, it is no more
                (t1, "", theirs),  # another tenant's: as if absent
                (admin, "&tenant=t1", theirs),  # not in the list asked for
            ):
                r = client.get(f"/v1/adapters?after={after}{query}")
                assert r.status_code == 404, r.text
                err = r.json()["error"]
                assert (err["param"], err["code"]) == ("after", "adapter_not_found"), err
                assert after in err["message"]
            # a known cursor pages on, each adapter once
            mine = [a for a in made if a != theirs]
            walked: list[str] = []
            page = t1.get("/v1/adapters?limit=1").json()
            while True:
                walked += [a["id"] for a in page["data"]]
                if not page["has_more"]:
                    break
                page = t1.get(f"/v1/adapters?limit=1&after={page['last_id']}").json()
            assert sorted(i for i in walked if i in mine) == sorted(mine)
            assert len(walked) == len(set(walked))
            assert admin.get(f"/v1/adapters?after={theirs}").status_code == 200
            bad = t1.get("/v1/adapters?limit=0").json()["error"]
            assert bad["param"] == "limit" and "from 1 to 100" in bad["message"]
        finally:
            for aid in made:
                admin.delete(f"/v1/adapters/{aid}")
