//! OpenAI's rate-limit headers: resets are Go `time.Duration` strings.

use std::fmt::Write;

/// Go's `Duration.String()` for a non-negative duration: `0s`, `12ms`,
/// `1.5s`, `6m0s`, `1h2m3s`. Sub-millisecond values round up to `1ms` so a
/// client never reads "wait 0" for a bucket that is not full yet.
pub fn go_duration(ns: i64) -> String {
    if ns <= 0 {
        return "0s".into();
    }
    let ms = (ns + 999_999) / 1_000_000;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut out = String::new();
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let secs = ms / 1000 % 60;
    let frac = ms % 1000;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{secs}");
    if frac > 0 {
        let digits = format!("{frac:03}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}
