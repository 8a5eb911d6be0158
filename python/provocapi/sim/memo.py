"""The answer of a repeated request body, worked out once (what keeps the simulator cheap).

A generation request's answer depends only on its raw body and the worker's flags, apart
from the ids (fresh random hex in every response) and ``created`` (the time). So for a body
seen before, validation, the plan and the JSON rendering are skipped: the entry keeps the
parsed body and the plan (the stream path reuses them) and, the first time the body comes
again for a non-streamed answer, a template of its bytes with holes where the ids and
``created`` go, filled afresh for every response. The bytes are exactly what a fresh render
would give.

Only what is deterministic is remembered: a body with a ``lora_request`` (its path is
checked on the file system every time) or one that fails validation is worked out in full
every time, as are bodies and answers too large for the bound. Everything that happens per
request still runs for a remembered answer: admission, counters, the ``[sim:...]`` triggers
of its plan, the error-rate and drop-rate rolls, delays.
"""

from __future__ import annotations

import os
import time
from binascii import hexlify
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .plan import AnswerPlan

MAX_ENTRIES = 128  # least recently used first out
MAX_BODY = 16 * 1024  # bytes of request body
MAX_TOKENS = 2048  # completion tokens of an answer
MAX_TEMPLATE = 128 * 1024  # bytes of a rendered answer

# Markers rendered in place of the ids and of `created` while a template is made: random
# per process, checked to occur exactly where expected (else no template for that body).
_MARK = "m" + os.urandom(6).hex()  # letters and digits: JSON leaves them as they are
_CREATED_MARK = int.from_bytes(os.urandom(7), "big") + 10**17  # 18 digits, > 2**56

ID = 0
CREATED = 1
_ONE_ID = (ID, CREATED)


class Entry:
    __slots__ = ("body", "plan", "template")

    def __init__(self, body: dict[str, Any], plan: AnswerPlan) -> None:
        self.body = body
        self.plan = plan
        # None: not made yet; False: this answer cannot be a template (render it each time);
        # else (segments, holes): segments[0] + hole 0 + segments[1] + ... + segments[-1].
        self.template: tuple[tuple[bytes, ...], tuple[int, ...]] | bool | None = None


class Created:
    """int(time.time()) as bytes, formatted once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = b"%d" % now
        return self._value


class Memo:
    """A bounded LRU from raw request body to its Entry, one per endpoint kind."""

    __slots__ = ("_entries", "created", "id_bytes", "max_entries")

    def __init__(self, id_bytes: int, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self.id_bytes = id_bytes
        self.max_entries = max_entries
        self.created = Created()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, raw: bytes) -> Entry | None:
        entry = self._entries.get(raw)
        if entry is not None:
            self._entries.move_to_end(raw)
        return entry

    def add(self, raw: bytes, body: dict[str, Any], plan: AnswerPlan) -> Entry | None:
        """Remember a validated, planned body if its answer is deterministic and small."""
        if len(raw) > MAX_BODY or "lora_request" in body or plan.completion_tokens > MAX_TOKENS:
            return None
        entry = self._entries[raw] = Entry(body, plan)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def fill(self, entry: Entry, render: Callable[[int, Callable[[], str]], bytes]) -> bytes:
        """The answer's bytes with fresh ids and `created`.

        ``render(created, new_id)`` renders the answer; it is called with markers once to
        make the template, and every time for an answer that cannot be one."""
        t = entry.template
        if t is None:
            t = entry.template = self._template(render)
        if t is False:
            return render(int(time.time()), self._new_id)
        return self.splice(t)  # type: ignore[arg-type]

    def splice(self, template: tuple[tuple[bytes, ...], tuple[int, ...]]) -> bytes:
        """A template's bytes with fresh ids and `created` in its holes."""
        segments, holes = template
        if holes is _ONE_ID:  # the common shape: one id, then created
            return b"".join(
                (
                    segments[0],
                    hexlify(os.urandom(self.id_bytes)),
                    segments[1],
                    self.created.get(),
                    segments[2],
                )
            )
        parts = [segments[0]]
        for hole, seg in zip(holes, segments[1:], strict=True):
            parts.append(
                self.created.get() if hole == CREATED else hexlify(os.urandom(self.id_bytes))
            )
            parts.append(seg)
        return b"".join(parts)

    def _new_id(self) -> str:
        return os.urandom(self.id_bytes).hex()

    def _template(
        self, render: Callable[[int, Callable[[], str]], bytes]
    ) -> tuple[tuple[bytes, ...], tuple[int, ...]] | bool:
        marks: list[str] = []

        def new_id() -> str:
            marks.append(f"{_MARK}{len(marks):06d}")
            return marks[-1]

        data = render(_CREATED_MARK, new_id)
        if len(data) > MAX_TEMPLATE:
            return False
        created = b"%d" % _CREATED_MARK
        holes: list[tuple[int, int, int]] = []  # (position, length, kind)
        if data.count(_MARK.encode()) != len(marks) or data.count(created) != 1:
            return False  # a marker also occurs where it was not put: render each time
        for m in marks:
            mark = m.encode()
            if data.count(mark) != 1:
                return False
            holes.append((data.index(mark), len(mark), ID))
        holes.append((data.index(created), len(created), CREATED))
        holes.sort()
        segments = []
        pos = 0
        for start, length, _ in holes:
            segments.append(data[pos:start])
            pos = start + length
        segments.append(data[pos:])
        kinds = tuple(kind for _, _, kind in holes)
        return tuple(segments), _ONE_ID if kinds == _ONE_ID else kinds
