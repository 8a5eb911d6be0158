"""Schema migrations shared by every store (keys, usage; batches and adapters next).

A store declares its schema once, as numbered steps (`migrations.Migrations`),
in a module of its own next to it (`keys_schema.py`, `usage/stores/sqlite_schema.py`,
`usage/stores/clickhouse_schema.py`), and its opening code hands them to the
runner of its engine (`sqlite_migrations.open_db`, `clickhouse_migrations.migrate`).
Callers only construct the store: which engine keeps the version, and how, stays
inside it. See "Store migrations" in docs/config.md.
"""
