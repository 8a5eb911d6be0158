"""A process's view of the adapter store follows other processes' writes at once,
for a call by name and for the /v1/models listing alike."""

from __future__ import annotations

from pathlib import Path

from provocapi.adapters import StoredAdapters
from provocapi.adapterstore.sqlite_store import SqliteAdapterStore


def test_listing_follows_another_process_at_once(tmp_path: Path) -> None:
    ours, theirs = SqliteAdapterStore(tmp_path), SqliteAdapterStore(tmp_path)
    view = StoredAdapters(ours, "/adapters")
    assert view.of_tenant("t1") == []

    a = theirs.create("t1", "bot", "m", {"type": "upload"})
    theirs.mark_ready(a.id, 2, ("q_proj",), 10)
    listed = view.of_tenant("t1")  # no refresh tick in between
    assert [(x.name, x.lora_path) for x in listed] == [("bot", f"/adapters/{a.id}")]
    assert view.of_tenant("t2") == []

    theirs.delete(a.id)
    assert view.of_tenant("t1") == []
    assert view.get("m", "bot", "t1") is None
