//! Rate-limit buckets over the shared state table, so every worker process of
//! a gateway draws on the same budget.
//!
//! Each bucket is one `AtomicI64` holding a GCRA "theoretical arrival time"
//! (TAT) in monotonic nanoseconds: a token bucket of capacity `limit` refilled
//! continuously at `limit` per minute, in a single word that a CAS updates
//! exactly. The bucket is full when TAT <= now; taking n units moves TAT
//! forward by n * 60 s / limit; a take that would push TAT past now + 60 s
//! does not fit. Refunds move TAT back. A zeroed field is a full bucket.

mod clock;
mod gcra;
mod headers;
mod set;
#[cfg(test)]
mod tests;

pub use clock::now_ns;
pub use gcra::{Gcra, Take, WINDOW_NS};
pub use headers::go_duration;
pub use set::{Bucket, BucketSet, Unit, Verdict};
