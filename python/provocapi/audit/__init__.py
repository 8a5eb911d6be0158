"""``provocapi probe`` and ``provocapi compare``: the audit of a move between OpenAI-style
providers, as a client sees it (HTTP only; no gateway module is imported here)."""
