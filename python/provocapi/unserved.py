"""OpenAI APIs the gateway does not provide, and what to use instead.

A client that calls one (the SDKs' `client.responses.create`, `client.images`,
...) gets a 404 naming the API and the alternative, as the migration guide
lists them, rather than a bare `unknown_url`.
"""

from __future__ import annotations

from .error_catalog import API_NOT_PROVIDED
from .errors import ApiError, quote

_CHAT = "use chat completions (POST /v1/chat/completions)"
_STORED = (
    "Stored chat completions (store: true)",
    "answers are not stored (store is accepted and has no effect): keep what you need "
    "from the answer itself",
)

# path prefix → (the API, what to use instead)
UNSERVED: dict[str, tuple[str, str]] = {
    "/v1/responses": ("The Responses API", _CHAT),
    "/v1/conversations": ("The Conversations API (part of Responses)", _CHAT),
    "/v1/assistants": (
        "The Assistants API (assistants, threads, runs, file search)",
        "provocapi serves inference only: keep the conversation yourself and " + _CHAT,
    ),
    "/v1/threads": (
        "The Assistants API (assistants, threads, runs, file search)",
        "provocapi serves inference only: keep the conversation yourself and " + _CHAT,
    ),
    "/v1/vector_stores": (
        "Vector stores (file search)",
        "provocapi serves inference only: compute embeddings (POST /v1/embeddings) "
        "and keep them in your own store",
    ),
    "/v1/images": ("Image generation and editing", "it is not on the roadmap"),
    "/v1/videos": ("Video generation", "it is not on the roadmap"),
    "/v1/audio": ("The audio API (transcription, translation, speech)", "it is planned for v1.5"),
    "/v1/fine_tuning": (
        "The fine-tuning API",
        "bring your own LoRA weights: upload them with POST /v1/adapters/upload (or "
        "fetch them with POST /v1/adapters) and call the model as 'base:name'",
    ),
    "/v1/moderations": (
        "The moderation endpoint",
        "classify with a chat model through chat completions (POST /v1/chat/completions)",
    ),
    "/v1/realtime": ("The Realtime API", "stream chat completions (stream: true) instead"),
    # retrieve, update, delete and messages of one stored completion
    "/v1/chat/completions": _STORED,
}
# a method of OpenAI's on a path we serve with another: the list of stored completions
UNSERVED_METHODS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/v1/chat/completions"): _STORED,
}


def not_provided(method: str, path: str) -> ApiError | None:
    """The 404 for a call to an API we do not serve; None for any other path."""
    for prefix, (api, instead) in UNSERVED.items():
        if path == prefix or path.startswith(prefix + "/"):
            return _built(api, instead, method, path)
    return None


def method_not_provided(method: str, path: str) -> ApiError | None:
    """The 404 for an OpenAI method of a path we serve otherwise; None for another."""
    unserved = UNSERVED_METHODS.get((method, path))
    return _built(*unserved, method, path) if unserved is not None else None


def _built(api: str, instead: str, method: str, path: str) -> ApiError:
    return API_NOT_PROVIDED.build(api=api, method=quote(method), path=quote(path), instead=instead)
