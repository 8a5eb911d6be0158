//! provocapi's hot path. Pure-Rust modules know nothing of Python or HTTP
//! frameworks; `bindings` is the only place that speaks PyO3.

pub mod buckets;
pub mod embed;
pub mod family;
pub mod json_depth;
pub mod metrics;
pub mod relay;
pub mod routing;
pub mod spool_scan;
pub mod sse;
pub mod state;
pub mod swar;
pub mod tokens;
pub mod toolcalls;

#[cfg(feature = "python")]
mod bindings;
