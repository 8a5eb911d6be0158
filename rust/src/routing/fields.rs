//! Field numbers of a worker's load slot in the state table: a wire format
//! shared by every process (Python writes health and worker figures here).

/// Requests this gateway has in flight on the worker, summed over processes.
pub const F_IN_FLIGHT: usize = 0;
/// Max concurrency from the config; 0 means no cap.
pub const F_MAX_CONCURRENCY: usize = 1;
/// One of the `HEALTH_*` values.
pub const F_HEALTH: usize = 2;
/// Requests queued inside the worker (its `/metrics`, numQueuedRequests).
pub const F_QUEUED: usize = 3;
/// KV-cache blocks in use, in thousandths of the worker's total.
pub const F_KV_PERMILLE: usize = 4;
/// Failures in a row seen by passive checks.
pub const F_FAILS: usize = 5;
/// Ejected by passive checks until this Unix time (ms); probes reinstate after it.
pub const F_EJECTED_UNTIL_MS: usize = 6;

/// Ready: takes traffic. Zero, so a fresh slot is optimistic until probed.
pub const HEALTH_UP: i64 = 0;
/// Answering 503 `starting`: no traffic until a probe sees 200.
pub const HEALTH_STARTING: i64 = 1;
/// Refusing connections or failing probes.
pub const HEALTH_DOWN: i64 = 2;
/// Taken out by passive checks (errors, timeouts).
pub const HEALTH_EJECTED: i64 = 3;

/// Adapters tracked per worker: ids in fields 0..LORA_MAX, use clocks after.
pub const LORA_MAX: usize = 16;
