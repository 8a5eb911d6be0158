"""The SQLite runner on a store of the test's own: steps in order, once, in one
transaction, with the version in PRAGMA user_version; a newer file refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from provocapi.storage.migrations import Migrated, Migrations, SchemaTooNew, Step
from provocapi.storage.sqlite_migrations import SqliteApply, ddl, migrate, open_db, user_version

from .processes import COUNTED, open_at_once


def _runs(path: Path) -> int:
    return sqlite3.connect(path).execute("SELECT count(*) FROM runs").fetchone()[0]


def test_steps_must_be_numbered_from_one_without_gaps() -> None:
    step = ddl("SELECT 1")
    with pytest.raises(ValueError, match=r"numbered 1\.\.n"):
        Migrations("x", (Step(1, "a", step), Step(3, "b", step)))
    with pytest.raises(ValueError):
        Migrations("x", (Step(2, "a", step),))


def test_a_new_file_runs_every_step_then_opening_again_runs_none(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.db"
    conn = open_db(path, COUNTED, timeout_s=5)
    assert user_version(conn) == 2 and _runs(path) == 1
    assert migrate(conn, COUNTED, str(path)) == Migrated(2, 2)
    conn.close()
    open_db(path, COUNTED, timeout_s=5).close()
    assert _runs(path) == 1  # opening twice is a no-op


def test_a_later_step_runs_on_a_file_of_the_earlier_schema(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    first: Migrations[SqliteApply] = Migrations("counted", COUNTED.steps[:1])
    open_db(path, first, timeout_s=5).close()
    assert _runs(path) == 0
    conn = open_db(path, first, timeout_s=5)
    assert migrate(conn, COUNTED, str(path)) == Migrated(1, 2)
    assert _runs(path) == 1 and user_version(conn) == 2


def test_a_failing_step_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    open_db(path, Migrations("counted", COUNTED.steps[:1]), timeout_s=5).close()
    broken: Migrations[SqliteApply] = Migrations(
        "counted",
        (*COUNTED.steps, Step(3, "breaks halfway", ddl("CREATE TABLE t3 (x)", "NOT SQL"))),
    )
    with pytest.raises(sqlite3.OperationalError):
        open_db(path, broken, timeout_s=5)
    conn = sqlite3.connect(path)
    assert user_version(conn) == 1  # steps 2 and 3 rolled back together
    assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't3'").fetchone() is None


def test_a_file_of_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    conn = open_db(path, COUNTED, timeout_s=5)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(SchemaTooNew) as err:
        open_db(path, COUNTED, timeout_s=5)
    assert (err.value.found, err.value.known) == (7, 2)
    text = str(err.value)
    assert str(path) in text and "schema version 7" in text and "up to 2" in text
    assert "never migrate backwards" in text
    assert user_version(sqlite3.connect(path)) == 7 and _runs(path) == 1


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    got = open_at_once("counted", path)
    assert [found for found, _ in got] == [0, 2, 2, 2]
    assert _runs(path) == 1
