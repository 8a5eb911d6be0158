"""The [usage] section is checked strictly, like the rest of the config."""

from __future__ import annotations

import pytest
from provocapi import config as config_mod
from provocapi.config import ConfigError

MODEL = """
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


def test_defaults_without_a_section() -> None:
    u = config_mod.parse(MODEL).usage
    assert (u.store, u.spool_max_bytes, u.max_range_days) == ("sqlite", 1 << 30, 366)
    assert u.fsync_interval_ms <= 100


def test_clickhouse_section() -> None:
    cfg = config_mod.parse(
        MODEL + '[usage]\nstore = "clickhouse"\nclickhouse_url = "http://10.0.0.9:8123"\n'
        'clickhouse_database = "usage_1"\nclickhouse_password = "x"\n'
    )
    assert cfg.usage.clickhouse_url == "http://10.0.0.9:8123"
    assert config_mod.from_json(config_mod.to_json(cfg)) == cfg  # passed to workers as JSON


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('store = "mysql"', "store"),
        ("spool_max = 3", "spool_max"),
        ("fsync_interval_ms = 0", "fsync_interval_ms"),
        ("fsync_interval_ms = 500", "fsync_interval_ms"),
        ("flush_batch = 0", "flush_batch"),
        ("segment_bytes = 100", "segment_bytes"),
        ("spool_max_bytes = 5000\nsegment_bytes = 8000", "spool_max_bytes"),
        ("max_range_days = 0", "max_range_days"),
        ('store = "clickhouse"\nclickhouse_url = "10.0.0.9:8123"', "clickhouse_url"),
        ('clickhouse_database = "a; DROP"', "clickhouse_database"),
        ('clickhouse_database = "1abc"', "clickhouse_database"),
    ],
)
def test_bad_values_stop_the_start(body: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        config_mod.parse(MODEL + "[usage]\n" + body + "\n", "gw.toml")
