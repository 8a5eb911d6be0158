"""Reading `Authorization: Bearer ...` and checking the admin key, in one place.

Header values are bytes and stay bytes: any byte a client sends (non-ASCII
included) is compared, never decoded into something that can raise. The admin
key is compared through SHA-256 digests with `hmac.compare_digest`: constant
time in the content, and the key's length does not show either.
"""

from __future__ import annotations

import hashlib
import hmac

# Longer credentials are wrong without being looked at: a tenant key is 51
# characters (`pk-prov-` + 43); an admin key may be longer if the operator chose so.
MAX_CREDENTIAL_BYTES = 256


def bearer(header: bytes | None, limit: int = MAX_CREDENTIAL_BYTES) -> bytes | None:
    """The credential of a Bearer header, or None (no header, another scheme, too long)."""
    if not header or len(header) > limit + 16:  # "Bearer " and some spaces
        return None
    scheme, _, secret = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    secret = secret.strip()
    if len(secret) > limit:
        return None
    return secret


def _as_bytes(text: str) -> bytes:
    try:  # surrogateescape: an environment variable's undecodable bytes, as they were
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def is_admin_key(header: bytes | None, admin_key: str | None) -> bool:
    """Whether the Authorization header carries the admin key (False when none is set)."""
    if not admin_key:
        return False
    expected = _as_bytes(admin_key)
    given = bearer(header, max(MAX_CREDENTIAL_BYTES, len(expected)))
    if given is None:
        return False
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())
