//! The generic cell rate algorithm on one shared atomic.

use std::sync::atomic::{AtomicI64, Ordering};

/// Capacity is the per-minute limit: a bucket holds one minute of refill.
pub const WINDOW_NS: i64 = 60_000_000_000;

/// A bucket's rule: `limit` units per minute, burst of `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    pub limit: i64,
}

/// The outcome of one take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Charged; `tat` is the bucket's new TAT.
    Taken { tat: i64 },
    /// Does not fit now; it would after `wait_ns`.
    Later { wait_ns: i64, tat: i64 },
    /// Costs more than the whole capacity: it never fits.
    Never,
}

impl Gcra {
    /// Nanoseconds of refill that `units` stand for (rounded up, so a bucket
    /// never hands out more than its limit).
    pub fn cost_ns(self, units: i64) -> i64 {
        if self.limit <= 0 || units <= 0 {
            return 0;
        }
        let ns = (i128::from(units) * i128::from(WINDOW_NS) + i128::from(self.limit) - 1)
            / i128::from(self.limit);
        i64::try_from(ns).unwrap_or(i64::MAX)
    }

    /// Rounding each unit's cost up loses under 1 ns per unit taken; this much
    /// overshoot is forgiven so a bucket still admits its whole limit, yet
    /// stays under one unit's cost so it never admits more.
    fn slack_ns(self) -> i64 {
        self.limit.min(self.cost_ns(1)).max(1) - 1
    }

    /// Takes `units` if they fit at `now`, exactly, whatever other processes do.
    pub fn take(self, cell: &AtomicI64, units: i64, now: i64) -> Take {
        let cost = self.cost_ns(units);
        if cost > WINDOW_NS + self.slack_ns() {
            return Take::Never;
        }
        let mut tat = cell.load(Ordering::Acquire);
        loop {
            let new = tat.max(now).saturating_add(cost);
            let over = new - now - WINDOW_NS - self.slack_ns();
            if over > 0 {
                return Take::Later { wait_ns: over, tat };
            }
            match cell.compare_exchange_weak(tat, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Take::Taken { tat: new },
                Err(seen) => tat = seen,
            }
        }
    }

    /// Gives `units` back (a refund, or undoing a take when a sibling bucket
    /// refused). A bucket already full stays full: `take` starts from max(TAT, now).
    pub fn give_back(self, cell: &AtomicI64, units: i64) {
        let cost = self.cost_ns(units);
        if cost > 0 {
            cell.fetch_sub(cost, Ordering::AcqRel);
        }
    }

    /// (remaining units, nanoseconds until full) for a bucket at `tat`.
    pub fn status(self, tat: i64, now: i64) -> (i64, i64) {
        let debt = tat.saturating_sub(now).clamp(0, WINDOW_NS);
        let left = WINDOW_NS - debt;
        let remaining = i128::from(self.limit) * i128::from(left) / i128::from(WINDOW_NS);
        (i64::try_from(remaining).unwrap_or(i64::MAX), debt)
    }
}
