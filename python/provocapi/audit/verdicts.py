"""The four verdicts a probe can reach, and the judgement every probe shares: what a
non-200 answer says about a feature (a clear refusal, or broken)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .wire import Reply

WORKS = "works"
REFUSED = "refused clearly"
IGNORED = "silently ignored"
BROKEN = "broken"
SKIPPED = "skipped"  # not a verdict: the probe did not run (no flag, no embedding model)
# not a verdict either: the request was refused for the caller's sake (rate limit, key,
# model access), so the answer says nothing about the feature
NOT_MEASURED = "not measured"
VERDICTS = (WORKS, REFUSED, IGNORED, BROKEN)


@dataclass(frozen=True, slots=True)
class Outcome:
    probe: str
    verdict: str
    evidence: str

    def as_json(self) -> dict[str, str]:
        return {"probe": self.probe, "verdict": self.verdict, "evidence": self.evidence}


def envelope(body: Any) -> dict[str, Any] | None:
    """OpenAI's `{"error": {"message", "type", "param", "code"}}`, or None if not that."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    if not isinstance(err.get("message"), str) or not isinstance(err.get("type"), str):
        return None
    if "param" not in err or "code" not in err:
        return None
    return err


def names_feature(err: dict[str, Any], names: tuple[str, ...]) -> bool:
    """Whether the error points at the feature: its param, or a name in its message."""
    param = str(err.get("param") or "").lower()
    message = str(err.get("message") or "").lower()
    for name in names:
        n = name.lower()
        if param == n or param.startswith(n + ".") or param.startswith(n + "["):
            return True
        if n in param and len(n) > 3:
            return True
        if re.search(r"(?<![a-z0-9_])" + re.escape(n) + r"(?![a-z0-9_])", message):
            return True
    return False


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unmeasured(probe: str, reply: Reply, names: tuple[str, ...] = ()) -> Outcome | None:
    """`not measured` when the answer refuses the caller rather than the feature: a 429,
    a 401 or 403 that does not name the feature, or a 404 for the model. Judging the
    feature by such an answer would blame it for the key's rate limit or access."""
    if reply.status not in (401, 403, 404, 429):
        return None
    err = envelope(reply.json())
    if reply.status == 404 and not (
        err and (err.get("param") == "model" or err.get("code") == "model_not_found")
    ):
        return None  # a 404 about something else is the endpoint's answer to judge
    if reply.status in (401, 403) and err and names and names_feature(err, names):
        return None  # a refusal of the feature itself
    detail = err["message"] if err else reply.body.decode(errors="replace")
    return Outcome(probe, NOT_MEASURED, f"HTTP {reply.status}: {short(detail)}")


def not_ok(probe: str, reply: Reply, names: tuple[str, ...]) -> Outcome | None:
    """The verdict of an answer that is not a 200 JSON object; None when it is one.

    A refusal of the caller (`unmeasured`) → not measured; 4xx in OpenAI's envelope
    naming one of `names` → refused clearly; any other 4xx, a 5xx, no answer, or a 200
    that is not a JSON object → broken."""
    if out := unmeasured(probe, reply, names):
        return out
    if reply.status == 0:
        return Outcome(probe, BROKEN, f"no HTTP answer: {short(reply.failure)}")
    body = reply.json()
    if reply.status != 200:
        err = envelope(body)
        where = f"HTTP {reply.status}"
        if reply.status >= 500:
            detail = err["message"] if err else reply.body.decode(errors="replace")
            return Outcome(probe, BROKEN, f"{where}: {short(detail)}")
        if err is None:
            text = reply.body.decode(errors="replace")
            return Outcome(probe, BROKEN, f"{where} without OpenAI's error envelope: {short(text)}")
        said = f"{where} {err.get('code') or err.get('type')}: {short(err['message'])}"
        if names and names_feature(err, names):
            return Outcome(probe, REFUSED, said)
        return Outcome(probe, BROKEN, f"refused without naming the feature: {said}")
    if not isinstance(body, dict):
        return Outcome(probe, BROKEN, f"200 but not a JSON object: {short(repr(reply.body))}")
    return None
