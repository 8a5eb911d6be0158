"""Files and batches: OpenAI's Files and Batch APIs, run by the gateway itself.

`interface.py` declares the stores (files' bytes and metadata, batches and their
per-line progress) as Protocols; `local.py` implements them with a directory and
SQLite under the data dir. The runner (`runner.py`) sends each line through the
same pipeline as an online call (`line_call.py`).
"""
