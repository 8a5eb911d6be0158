"""A reload never changes `[server]`, `[usage]` or `redis_url`, not even in the
effective config file: a Granian worker respawned after a crash, and a restarted
usage flusher or batch runner, start from that file, so whatever it holds is
what they serve with (a reloaded `auth = "none"` once made one process keyless)."""

from __future__ import annotations

from pathlib import Path

import pytest
from provocapi import config
from provocapi._core import StateTable
from provocapi.reload import Reloader

START = """
redis_url = "redis://127.0.0.1:1/0"

[server]
admin_key = "start-admin"

[usage]
flush_interval_ms = 1000

[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""

EDITED = """
[server]
auth = "none"
admin_key = "edited-admin"
max_body_bytes = 10

[usage]
flush_interval_ms = 50
spool_dir = "/elsewhere"

[[models]]
id = "m"
kind = "chat"
aliases = ["new-alias"]
workers = ["http://127.0.0.1:1"]
"""


def test_the_effective_file_keeps_the_startup_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "provocapi.toml"
    source.write_text(START)
    effective = tmp_path / "effective-config.json"
    start = config.load(source)
    config.write_private(effective, start)
    monkeypatch.setenv("PROVOCAPI_CONFIG_SOURCE", str(source))
    monkeypatch.setenv("PROVOCAPI_EFFECTIVE_CONFIG", str(effective))
    applied: list[config.Config] = []
    reloader = Reloader(StateTable(str(tmp_path / "state.bin")), lambda: start, applied.append)

    source.write_text(EDITED)
    reloader.reload()

    on_disk = config.from_json(effective.read_bytes())
    # what a respawned process starts with is what the running ones serve with
    assert on_disk.server == start.server
    assert on_disk.usage == start.usage
    assert on_disk.redis_url == start.redis_url
    assert on_disk.models[0].aliases == ["new-alias"]  # the reload itself took effect
    assert applied[-1] == on_disk  # and the process that reloaded applies the same


def test_a_reload_names_the_start_up_settings_it_left_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else an operator who adds a web app's origin and reloads sees "reloaded" and
    pages still refused, with nothing saying a restart is needed."""
    source = tmp_path / "provocapi.toml"
    source.write_text(START)
    start = config.load(source)
    monkeypatch.setenv("PROVOCAPI_CONFIG_SOURCE", str(source))
    monkeypatch.delenv("PROVOCAPI_EFFECTIVE_CONFIG", raising=False)
    reloader = Reloader(StateTable(str(tmp_path / "state.bin")), lambda: start, lambda _: None)
    assert reloader.reload().not_applied == []  # the same file: nothing pending
    source.write_text(EDITED)
    assert reloader.reload().not_applied == [
        "redis_url",
        "server.admin_key",
        "server.auth",
        "server.max_body_bytes",
        "usage.flush_interval_ms",
        "usage.spool_dir",
    ]
