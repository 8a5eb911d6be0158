"""The config loader: the embedded default, strictness, cross-field rules."""

from __future__ import annotations

import pytest
from provocapi import config


def test_embedded_default_has_the_catalogue() -> None:
    cfg = config.load(None)
    ids = {m.id: m for m in cfg.models}
    assert set(ids) == {
        "llama-3.1-70b-instruct",
        "llama-3.1-8b-instruct",
        "qwen-2.5-72b-instruct",
        "mistral-small-3-24b",
        "bge-m3",
        "nomic-embed-v1.5",
    }
    aliases = {a: m.id for m in cfg.models for a in m.aliases}
    assert aliases == {
        "gpt-4o": "llama-3.1-70b-instruct",
        "gpt-4o-mini": "llama-3.1-8b-instruct",
        "gpt-4-turbo": "qwen-2.5-72b-instruct",
        "gpt-3.5-turbo": "mistral-small-3-24b",
        "text-embedding-3-large": "bge-m3",
        "text-embedding-3-small": "nomic-embed-v1.5",
    }
    assert ids["bge-m3"].dimensions == 1024 and ids["bge-m3"].min_dimensions is None
    assert ids["nomic-embed-v1.5"].dimensions == 768
    assert ids["nomic-embed-v1.5"].min_dimensions == 64
    assert all(m.max_output_tokens == 8192 for m in cfg.models)


def test_json_round_trip_keeps_everything() -> None:
    cfg = config.load(None)
    assert config.from_json(config.to_json(cfg)) == cfg


MINIMAL = """
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server]\nport = 'x'\n" + MINIMAL, "Expected `int`"),
        ("[server]\nprot = 1\n" + MINIMAL, "unknown field `prot`"),
        (MINIMAL + "aliases = ['m']\n", "used twice"),
        (MINIMAL.replace('id = "m"', 'id = "a:b"'), "may not contain ':'"),
        (MINIMAL + "default_max_tokens = 9000\n", "default_max_tokens"),
        (MINIMAL.replace('workers = ["http://127.0.0.1:1"]', ""), "no workers"),
        ("[tenants.t]\nmodels = ['nope']\n" + MINIMAL, "unknown model 'nope'"),
        ("this is = not toml =", "not valid TOML"),
        (
            MINIMAL.replace('kind = "chat"', 'kind = "embedding"'),
            "needs `dimensions`",
        ),
        (MINIMAL + "batch_priority = 1.5\n", "batch_priority must be within 0.0..1.0"),
        (
            MINIMAL.replace('kind = "chat"', 'kind = "embedding"\ndimensions = 8')
            + "batch_priority = 0.2\n",
            "embedding workers take no batch_priority",
        ),
        (
            MINIMAL
            + "[[models.adapters]]\nname='a'\nlora_path='/x'\nlora_int_id=1\n"
            + "[[models.adapters]]\nname='b'\nlora_path='/y'\nlora_int_id=1\n",
            "unique across all models",
        ),
        # out-of-range values that serve used to take: a traceback at bind, a drain
        # that never ends, a runner polling in a busy loop
        ("[server]\nport = 70000\n" + MINIMAL, "server.port must be within 1..65535"),
        ("[server]\nport = 0\n" + MINIMAL, "server.port must be within 1..65535"),
        ("[server]\ndrain_delay_s = nan\n" + MINIMAL, "server.drain_delay_s"),
        ("[server]\ndrain_delay_s = -1.0\n" + MINIMAL, "server.drain_delay_s"),
        ("[server]\nstop_timeout_s = 0.5\n" + MINIMAL, "server.stop_timeout_s"),
        ("[server]\nstop_timeout_s = inf\n" + MINIMAL, "server.stop_timeout_s"),
        ("[server]\nrequest_timeout_s = 0\n" + MINIMAL, "server.request_timeout_s"),
        ("[server]\nconnect_timeout_s = -1\n" + MINIMAL, "server.connect_timeout_s"),
        ("[server]\nmax_body_bytes = 0\n" + MINIMAL, "max_body_bytes >= 1"),
        ("[batch]\nrunner_nice = 25\n" + MINIMAL, "batch.runner_nice must be between 0 and 19"),
        ("[batch]\npoll_interval_s = -1\n" + MINIMAL, "batch.poll_interval_s must be > 0"),
        ("[batch]\nlease_s = 0\n" + MINIMAL, "batch.lease_s must be > 0"),
        ("[batch]\nline_concurrency = 0\n" + MINIMAL, "line_concurrency and parallel_batches"),
        # names a client could never use, a worker with no host, a redis_url redis-py
        # cannot read: each failed only later, or never said why
        (MINIMAL.replace('id = "m"', 'id = ""'), "a model id or alias is empty"),
        (MINIMAL + "aliases = [' ']\n", "a model id or alias is empty"),
        (
            MINIMAL + "[[models.adapters]]\nname='a:b'\nlora_path='/x'\nlora_int_id=1\n",
            "adapter name 'a:b'",
        ),
        (
            MINIMAL
            + "[[models.adapters]]\nname='a'\nlora_path='/x'\nlora_int_id=1\n"
            + "[[models.adapters]]\nname='a'\nlora_path='/y'\nlora_int_id=2\n",
            "unique within its model",
        ),
        (MINIMAL.replace("http://127.0.0.1:1", "http://"), "is not http(s)://HOST[:PORT]"),
        (MINIMAL.replace("127.0.0.1:1", "127.0.0.1:99999"), "is not http(s)://HOST[:PORT]"),
        ("redis_url = 'localhost:6379'\n" + MINIMAL, "redis_url must start with"),
    ],
)
def test_bad_configs_are_refused_with_a_reason(text: str, needle: str) -> None:
    with pytest.raises(config.ConfigError) as exc:
        config.parse(text, "test.toml")
    assert needle in str(exc.value)
    assert "test.toml" in str(exc.value)
