"""The adapter store: uploaded LoRA adapters, their files, metadata and checks.

`store.AdapterStore` is the interface (SQLite today, `sqlite_store.py`); `checks`
decides whether an adapter's files can be served by a model's workers before
any worker sees them.
"""
