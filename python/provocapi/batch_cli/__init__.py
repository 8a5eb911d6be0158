"""``provocapi batch``: submit, follow, fetch, list and cancel batches through the gateway's
OpenAI files and batches API (the HTTP API only, so it works against any OpenAI-compatible
server)."""
