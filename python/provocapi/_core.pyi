"""Typed surface of the Rust core, `provocapi._core` (kept by hand; see rust/src/bindings/)."""

__version__: str

# --- relay: SSE framing, chunk rewriting, tool calls, embeddings (rust/src/bindings/relay.rs) ---

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

    def __init__(
        self,
        *,
        kind: str,
        public_model: str,
        response_id: str,
        created: int,
        include_usage: bool,
        tool_family: str | None = None,
        tool_names: list[str] | None = None,
    ) -> None:
        """`kind` is "chat" or "completion", `tool_family` "llama3", "qwen2" or "mistral"
        (ValueError otherwise). Tool recognition needs both a family and tool names, and
        applies to chat only."""

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
    def finish_reason(self) -> str | None:
        """Of choice 0, mapped onto OpenAI's set (timeout, cancelled -> "length"; a
        recognised tool call that stopped -> "tool_calls")."""

    @property
    def chunks(self) -> int:
        """Chunks with choices relayed (the usage chunk not counted)."""

    @property
    def first_byte_sent(self) -> bool:
        """feed/finish/error_event has returned non-empty bytes at least once."""

def rewrite_response(
    body: bytes,
    *,
    kind: str,
    public_model: str,
    response_id: str,
    created: int,
    tool_family: str | None = None,
    tool_names: list[str] | None = None,
) -> tuple[bytes, int, int, str | None]:
    """A non-streamed worker body as OpenAI's JSON.

    Returns (body, prompt_tokens, completion_tokens, finish_reason of choice 0); tokens
    are 0 when the worker sent no usage. Keeps OpenAI's keys only, fills what the SDKs
    require, maps finish_reason, parses text tool calls. ValueError when the body is
    not a JSON object with a choices array (the gateway answers 502).
    """

def parse_tool_calls(
    family: str, text: str, tool_names: list[str]
) -> tuple[str | None, list[tuple[str, str]]] | None:
    """(prose before the calls or None, [(name, arguments JSON), ...]), or None when the
    text is not entirely tool calls of `family` naming only `tool_names`."""

def embedding_truncate(raw: bytes, dimensions: int) -> bytes:
    """Little-endian float32 vector -> its first `dimensions` values, L2-renormalised.

    ValueError when raw is not whole float32 values, dimensions is outside
    1..len, or a value is not finite.
    """

# --- state: shared-memory state table and metrics registry (rust/src/bindings/state.rs) ---
