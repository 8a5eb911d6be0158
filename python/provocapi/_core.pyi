"""Typed surface of the Rust core, `provocapi._core` (kept by hand; see rust/src/bindings/)."""

__version__: str

# --- relay: SSE framing, chunk rewriting, tool calls, embeddings (rust/src/bindings/relay.rs) ---

# --- state: shared-memory state table and metrics registry (rust/src/bindings/state.rs) ---
