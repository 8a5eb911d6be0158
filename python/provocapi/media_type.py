"""Whether a request's `Content-Type` lets its body be read as JSON.

JSON under any of its media types is JSON: `application/json` (what the SDKs
send), with any parameters and in any case, and `application/<anything>+json`
(RFC 6839). A body that names no type is read as JSON too, as it always was.
Any other type says the client sent something else (a form, text, multipart): its
body is not guessed at (docs/config.md, "Behaviour worth knowing").
"""

from __future__ import annotations

SDK = b"application/json"  # the openai SDKs' exact value: one comparison
_SUFFIX = b"+json"


def is_json(content_type: bytes) -> bool:
    if content_type == SDK:
        return True
    essence = content_type.partition(b";")[0].strip().lower()
    if not essence:  # `Content-Type:` with no type names none
        return True
    return essence == SDK or (essence.startswith(b"application/") and essence.endswith(_SUFFIX))


def essence(content_type: bytes) -> str:
    """The type/subtype, as an error names it."""
    return content_type.partition(b";")[0].strip().decode("latin-1")
