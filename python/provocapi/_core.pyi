"""Typed surface of the Rust core, `provocapi._core` (kept by hand; see rust/src/bindings/)."""

from typing import Any, Self, final

__all__ = [
    "BucketSet",
    "CoreError",
    "Metrics",
    "Rewritten",
    "RoutePick",
    "RoutePool",
    "SpoolScanner",
    "StateTable",
    "StateTableError",
    "StreamRelay",
    "Tokenizer",
    "UpstreamFormatError",
    "Verdict",
    "__version__",
    "embedding_json",
    "embedding_truncate",
    "json_depth_exceeds",
    "messages_prefix_hash",
    "prefix_hash",
    "rewrite_response",
    "worker_stats",
]

__version__: str

# --- relay: SSE framing, chunk rewriting, tool calls, embeddings (rust/src/bindings/relay.rs) ---

@final
class StreamRelay:
    """Relays one streamed answer: trtllm-serve SSE bytes in, OpenAI SSE bytes out.

    Output is only `data: <json>\n\n` events, then `data: [DONE]\n\n`, or an error
    event `data: {"error": {...}}\n\n` that ends the stream. Every chunk carries the
    given id, created and public model. With include_usage every chunk has
    `"usage": null` and the worker's usage goes out as one `choices: []` chunk right
    before [DONE]; without it the usage chunk is dropped (its numbers still recorded).
    With `tool_family` and `tool_names`, tool calls the model wrote as text become
    `tool_calls` (text that may still be a call is held back until it is decided).
    """

    def __new__(
        cls,
        *,
        kind: str,
        public_model: str,
        response_id: str,
        created: int,
        include_usage: bool,
        tool_family: str | None = None,
        tool_names: list[str] | None = None,
        one_tool_call: bool = False,
    ) -> Self:
        """`kind` is "chat" or "completion", `tool_family` "llama3", "qwen2" or "mistral"
        (CoreError otherwise). Tool recognition needs both a family and tool names, and
        applies to chat only. `one_tool_call` (`parallel_tool_calls: false`): a choice's
        calls after its first, parsed from text or the worker's own, are dropped."""

    def feed(self, data: bytes) -> bytes:
        """Upstream bytes, split anywhere; returns the bytes to write now (maybe b"")."""

    def finish(self) -> bytes:
        """The upstream body ended. Without [DONE] and without an error already relayed,
        returns an error event (type "server_error", code "upstream_disconnected")."""

    def error_event(
        self, message: str, type: str, code: str | None = None, param: str | None = None
    ) -> bytes:
        """Frame a gateway-side error event; the stream is over (done and failed)."""

    @property
    def done(self) -> bool:
        """[DONE] or an error event was relayed: nothing more will be written."""

    @property
    def failed(self) -> bool:
        """An error event was relayed (from the worker, the gateway or a disconnect)."""

    @property
    def prompt_tokens(self) -> int | None:
        """From the worker's usage chunk; None until one arrived."""

    @property
    def completion_tokens(self) -> int | None: ...
    @property
    def generated_text(self) -> str:
        """The worker's generated text so far (content, text, tool-call names and
        arguments of every choice): counted by the gateway when no usage came."""

    @property
    def finish_reason(self) -> str | None:
        """Of choice 0, mapped onto OpenAI's set (timeout, cancelled -> "length"; a
        recognised tool call that stopped -> "tool_calls")."""

    @property
    def chunks(self) -> int:
        """Chunks with choices relayed (the usage chunk not counted)."""

    @property
    def first_byte_sent(self) -> bool:
        """feed/finish/error_event has returned non-empty bytes at least once."""

@final
class Rewritten:
    """What `rewrite_response` returns."""

    @property
    def body(self) -> bytes:
        """The answer as OpenAI's JSON, for the client."""
    @property
    def prompt_tokens(self) -> int | None:
        """The worker's usage; None when it sent none (as StreamRelay's)."""
    @property
    def completion_tokens(self) -> int | None:
        """The worker's usage; None when it sent none (as StreamRelay's)."""
    @property
    def finish_reason(self) -> str | None:
        """Of choice 0, mapped onto OpenAI's set."""

def rewrite_response(
    body: bytes,
    *,
    kind: str,
    public_model: str,
    response_id: str,
    created: int,
    tool_family: str | None = None,
    tool_names: list[str] | None = None,
    one_tool_call: bool = False,
) -> Rewritten:
    """A non-streamed worker body as OpenAI's JSON.

    Keeps OpenAI's keys only, fills what the SDKs
    require, maps finish_reason, parses text tool calls (with `one_tool_call`, a
    choice's first call only). UpstreamFormatError when the body
    is not a JSON object with a choices array (the gateway answers 502); CoreError on a
    bad kind or tool_family.
    """

def embedding_truncate(raw: bytes, dimensions: int) -> bytes:
    """Little-endian float32 vector -> its first `dimensions` values, L2-renormalised.

    UpstreamFormatError when raw is not whole float32 values, dimensions is outside
    1..len, or a value is not finite; CoreError when dimensions is negative.
    """

def embedding_json(raw: bytes) -> bytes:
    """Little-endian float32 vector -> a JSON array of its values, each in the shortest
    text that reads back as the same float32. UpstreamFormatError when raw is not whole
    float32 values or a value is not finite."""

# --- errors: what the core raises (rust/src/bindings/errors.rs) ---

class CoreError(RuntimeError):
    """A bad argument to a binding or an internal failure of the core: a bug, never a
    worker's fault (the gateway answers 500 and logs it)."""

class UpstreamFormatError(ValueError):
    """A worker's answer that its protocol does not allow (the gateway answers 502)."""

# --- state: shared-memory state table and metrics registry (rust/src/bindings/state.rs) ---

class StateTableError(CoreError):
    """Corrupt or mismatched state file, table full, key too long, or a bad slot/field.

    Failing to open, size, lock or map the file raises OSError instead.
    """

@final
class StateTable:
    """A memory-mapped table of i64 atomics shared by every process that maps `path`.

    Keys are UTF-8 strings of at most KEY_MAX bytes; a key's slot never changes and is
    never freed (delete the file before start-up to begin again). Field operations are
    atomic across processes; adds wrap on overflow.
    """

    FIELDS: int  # i64 fields per slot (32)
    KEY_MAX: int  # longest key, in UTF-8 bytes (240)
    def __new__(cls, path: str, capacity: int = 8192) -> Self: ...
    @property
    def path(self) -> str: ...
    @property
    def capacity(self) -> int: ...
    def slot(self, key: str) -> int:
        """The slot of `key`, inserting it if absent."""
    def find(self, key: str) -> int | None: ...
    def get(self, slot: int, field: int) -> int: ...
    def set(self, slot: int, field: int, value: int) -> None: ...
    def add(self, slot: int, field: int, delta: int) -> int:
        """Adds `delta` and returns the new value."""
    def compare_and_swap(self, slot: int, field: int, expected: int, new: int) -> bool: ...
    def fetch_max(self, slot: int, field: int, value: int) -> int:
        """Raises the field to at least `value`; returns the previous value."""
    def entries(self, prefix: str = "") -> list[tuple[str, int]]:
        """(key, slot) of every ready slot whose key starts with `prefix`, in slot order."""

@final
class Metrics:
    """Prometheus metrics summed across processes: series live in a StateTable.

    Every process describes the same families at start-up; `render` shows every
    series in the table whose family this process has described.
    """

    def __new__(cls, table: StateTable) -> Self: ...
    def describe(self, name: str, kind: str, help: str, buckets: list[float] | None = None) -> None:
        """kind: "counter" | "gauge" | "histogram". Histogram buckets: at most 30 finite,
        increasing bounds (+Inf is implied); None gives Prometheus' latency defaults.
        Describing a family again identically is a no-op. CoreError on bad input."""
    def series(self, name: str, labels: dict[str, str] | None = None) -> int:
        """The handle (slot) of a series of a described family; keep it for updates."""
    def inc(self, series: int, by: int = 1) -> None:
        """Counter: adds `by` (>= 0)."""
    def gauge_set(self, series: int, value: float) -> None: ...
    def gauge_add(self, series: int, delta: float) -> None: ...
    def observe(self, series: int, value: float) -> None:
        """Histogram: counts `value` in the first bucket whose bound is >= it."""
    def count_observe(self, counter: int, histogram: int, value: float) -> None:
        """`inc(counter)` and `observe(histogram, value)` in one call."""
    def served(
        self,
        handles: tuple[int, int, int, int, int],
        queue_s: float | None,
        ttft_s: float | None,
        prompt: int,
        completion: int,
    ) -> None:
        """An answered call's series at once. `handles`: (queue seconds, TTFT, tokens
        in, prompt tokens histogram, tokens out). `queue_s` and `ttft_s` are observed
        when not None; `prompt` is added to tokens in and observed when not 0,
        `completion` added to tokens out when not 0."""
    def value(self, series: int) -> float:
        """Counter or gauge value (gauges keep 6 decimal places)."""
    def render(self) -> str:
        """Prometheus text exposition format, families and series sorted."""
    def show_only(self, label: str, values: list[str] | None) -> None:
        """From now on (in this process) `render` shows a series with label `label` only
        if its value is in `values`; None shows every value again. CoreError on a bad
        label name."""

# --- admission: rate-limit buckets in the state table (rust/src/bindings/admission.rs) ---

@final
class Verdict:
    """One `BucketSet.admit` decision."""

    @property
    def refused(self) -> int | None:
        """Index of the bucket that refused; None when admitted."""
    @property
    def admitted(self) -> bool:
        """`refused is None`."""
    @property
    def never(self) -> bool:
        """The ask is larger than the refusing bucket's capacity: it can never fit."""
    @property
    def wait_ns(self) -> int:
        """Nanoseconds until the ask would fit in the refusing bucket."""
    @property
    def used(self) -> int:
        """Units in use in the refusing bucket."""
    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The x-ratelimit-* headers after the decision."""

@final
class BucketSet:
    """The buckets one request draws on, taken all or nothing.

    Each bucket is a field of a state-table slot holding a GCRA arrival time:
    capacity `limit` units, refilled continuously at `limit` per minute, shared by
    every process that maps the table. A zeroed field is a full bucket.
    """

    def __new__(cls, table: StateTable, buckets: list[tuple[int, int, int, bool]]) -> Self:
        """`buckets`: (slot, field, limit per minute, counts tokens) each; limits below 1
        count as 1. StateTableError if a slot or field is bad."""

    @property
    def limits(self) -> list[tuple[int, bool]]:
        """(limit, counts tokens) per bucket, in the given order."""

    def admit(self, requests: int, tokens: int, now_ns: int | None = None) -> Verdict:
        """Charge `requests` to request buckets and `tokens` to token buckets, or nothing."""

    def refund(self, tokens: int) -> None:
        """Give unused tokens back to every token bucket (never above capacity)."""

    def take_pool(self, offset: int, requests: int, tokens: int) -> int | None:
        """Redis mode: take from plain counters (units leased from Redis) at each bucket's
        field + offset, all or nothing; the index of the short bucket, or None."""

    def add_pool(self, offset: int, index: int, units: int) -> int:
        """Add units to bucket `index`'s counter at field + offset; the new value."""

    def headers(self, now_ns: int | None = None) -> list[tuple[bytes, bytes]]:
        """OpenAI's x-ratelimit-* headers: per unit, the bucket with the smallest
        remaining fraction; resets as Go durations."""

# --- tokens: counting with the served model's tokenizer (rust/src/bindings/tokens.rs) ---

@final
class Tokenizer:
    """A vocabulary loaded from a local file. Texts are borrowed from the `str`
    objects (no copy); inputs above 16 KiB are counted with the GIL released.

    `kind`: "hf" (a Hugging Face tokenizer.json, e.g. Llama 3), "qwen-tiktoken"
    (Qwen's qwen.tiktoken ranks, with Qwen 2.5's added tokens from 151643 on and NFC)
    or "tekken" (Mistral's Tekken JSON; ids = rank + its special-token count).
    """

    def __new__(cls, path: str, kind: str) -> Self:
        """OSError if the file cannot be read, CoreError if it is not of that kind."""

    def encode(self, text: str) -> list[int]:
        """Token ids, no BOS/EOS; added tokens written in the text count as themselves
        where the file's reference tokenizer does so (HF files, Qwen; not Tekken)."""

    def count(self, text: str, limit: int | None = None) -> int:
        """Tokens of `text`. With `limit`, counting stops once past it: a result above
        `limit` means "more than `limit`" (the text has at least that many tokens); at
        or below it the count is exact. (A file run by the `tokenizers` crate, i.e. not
        one of the three built-in kinds of vocabulary, always counts the whole text.)"""

    def count_batch(self, texts: list[str], limit: int | None = None) -> list[int]:
        """`count` of each text, `limit` applying to each one."""

    def count_chat(
        self,
        family_name: str,
        messages: list[tuple[str, str]],
        tools: list[str] = ...,
        limit: int | None = None,
    ) -> int:
        """Tokens of a chat prompt as the family's template renders it ("llama3": Llama
        3.1, "qwen2": Qwen 2.5, "mistral": Mistral Small 3 / instruct v7), up to the open
        assistant turn. `messages`: (role, text); `tools`: each tool's JSON as the
        template writes it; `limit` as for `count`, over the whole prompt. CoreError on
        an unknown family."""

    def count_messages(
        self,
        family_name: str,
        messages: list[dict[str, Any]],
        tools: list[str] = ...,
        limit: int | None = None,
    ) -> int | None:
        """`count_chat` of a request's `messages` as decoded, read in the core: None
        when one is not plain (a dict whose "role" and "content" are str and whose
        "tool_calls" is absent or None); the caller renders those itself."""

    @staticmethod
    def message_chars(messages: list[dict[str, Any]]) -> int | None:
        """Characters (code points) of the contents of plain `messages` (as for
        `count_messages`), None when one is not plain."""

    def special_id(self, token: str) -> int | None:
        """The id of a special, added or control token, by its text."""
    @property
    def id_end(self) -> int:
        """One past the largest token id (added tokens included): ids a prompt may give."""

# --- routing: worker picks over the shared state table (rust/src/bindings/routing.rs) ---

@final
class RoutePick:
    """One `RoutePool.pick`: a worker's index, or None with the reason."""

    @property
    def index(self) -> int | None:
        """The picked worker; None when `full` or `none_ready`."""
    @property
    def adapter_hit(self) -> bool:
        """The worker already held the asked adapter."""
    @property
    def full(self) -> bool:
        """No worker: ready workers exist, all at their cap (wait in the queue)."""
    @property
    def none_ready(self) -> bool:
        """No worker: none is ready (or all are excluded)."""

@final
class RoutePool:
    """One model's workers, picked by load with adapter and prefix affinity.

    Each worker is (load_slot, lora_slot, weight, max_loras): two StateTable slots keyed by
    model and worker URL, so every process (and a pool rebuilt by a reload) shares them.
    The load slot's fields (F_*) hold in-flight count, concurrency cap, health, the worker's
    queued requests and KV-cache use (thousandths); Python writes all but in-flight.
    """

    F_IN_FLIGHT: int
    F_MAX_CONCURRENCY: int  # 0: no cap
    F_HEALTH: int  # one of HEALTH_*
    F_QUEUED: int
    F_KV_PERMILLE: int
    F_FAILS: int
    F_EJECTED_UNTIL_MS: int
    HEALTH_UP: int  # 0: a fresh slot takes traffic until a probe says otherwise
    HEALTH_STARTING: int
    HEALTH_DOWN: int
    HEALTH_EJECTED: int
    LORA_MAX: int  # adapters tracked per worker (16)
    MAX_WORKERS: int  # 64
    def __new__(
        cls,
        table: StateTable,
        workers: list[tuple[int, int, int, int]],
        clock_slot: int,
        load_factor: float = 1.5,
        policy: str = "scan",
        home_slots: list[int] = ...,
        adapter_load_factor: float = 3.0,
    ) -> Self:
        """policy: "scan" (exact least loaded) or "two_choices". load_factor bounds prefix
        affinity, adapter_load_factor adapter affinity (multiples of the mean load, >= 1).
        home_slots: slots remembering where recent prefixes went (32 entries each).
        CoreError on more than MAX_WORKERS workers, a weight of 0, max_loras above
        LORA_MAX, a bad factor or policy."""
    def __len__(self) -> int: ...
    def pick(self, adapter: int = 0, prefix: int = 0, exclude: int = 0) -> RoutePick:
        """A worker with its in-flight count already raised, or why there is none.
        adapter: lora_int_id (0: none); prefix: prefix_hash(...) (0: none); exclude: bit
        i set skips worker i (already tried)."""
    def release(self, index: int) -> None:
        """Gives back what pick claimed on worker `index`."""
    def hold(self, slots: list[int]) -> None:
        """From now on a pick of worker i also adds 1 to field 0 of `slots[i]` (this
        process's ledger of the units it holds), its release -1. One slot per worker;
        CoreError on another count, StateTableError on a slot out of range."""
    def holds(self, index: int, adapter: int) -> bool:
        """Whether worker `index` holds `adapter` among its last max_loras."""

def worker_stats(body: bytes) -> tuple[int, int, int] | None:
    """trtllm-serve's `/metrics` list, last entry only: (numQueuedRequests, usedNumBlocks,
    maxNumBlocks), -1 where absent or not an integer; None when the body is not a
    non-empty JSON array ending with an object. Runs without the GIL."""

def prefix_hash(data: bytes) -> int:
    """A stable 64-bit hash of a conversation prefix, never 0."""

def messages_prefix_hash(messages: list[Any], limit: int) -> int | None:
    """`prefix_hash` of the JSON of `messages` up to and including the first whose
    "role" is "user", cut to `limit` bytes, written byte for byte as msgspec writes it
    (so the same hash as encoding it with msgspec); None when `messages` is empty or a
    message of that head is not a dict of str keys and str values."""

# --- usage: the spool reader's scan of plain lines (rust/src/bindings/spool_scan.rs) ---

@final
class SpoolScanner:
    """The usage spool reader's fast path (usage/reader.py): runs of plain begin and
    end lines, as orjson.dumps writes them with keys in `columns` order."""

    def __new__(cls, columns: list[str], begin: int, end: int) -> Self:
        """columns: the store's, starting with event_id, version (else CoreError);
        begin, end: the versions of a begin and of an end line."""
    def scan(
        self, data: bytes, start: int, limit: int
    ) -> tuple[int, bytes | None, list[str], list[str], list[tuple[str, bytes]], int]:
        """Whole lines from `start` until one that is no plain begin or end (an id
        with escapes or non-ASCII, another version, other keys, nesting, whitespace,
        no newline yet), or `limit` ends: (stop, ends, pops, paired, opens, begins).
        stop: where the run ended (a line start); ends: the run's end lines as one
        JSON array of arrays, each end's values in `columns` order, None if none;
        pops: ids of ends whose begin is not in the run; paired: ids of begins ended
        in the run; opens: (id, line) of the begins still open, in first-seen order,
        each with its last line; begins: begin lines read.
        The values are not validated: decoding `ends` may still fail."""

# --- json_depth: the request decoder's nesting guard (rust/src/bindings/json_depth.rs) ---

def json_depth_exceeds(text: bytes, limit: int) -> bool:
    """Whether `text`, JSON the decoder accepted, nests arrays and objects more than
    `limit` levels (the outermost being level 1); brackets inside strings do not count.
    A body with at most `limit` brackets is answered by one SIMD search."""
