//! One clock for every process of the machine: CLOCK_MONOTONIC is system-wide,
//! so TATs written by one process mean the same instant to all of them.

/// Nanoseconds of CLOCK_MONOTONIC (since boot; never jumps with wall time).
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain syscall writing into a timespec we own; CLOCK_MONOTONIC
    // always exists on Linux, so it cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}
