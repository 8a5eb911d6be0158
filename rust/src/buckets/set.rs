//! The buckets one request draws on (key, tenant, model within tenant; each
//! for requests and tokens), taken all or nothing.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::gcra::{Gcra, Take};
use super::headers::go_duration;
use crate::state::{Error, StateTable};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Requests,
    Tokens,
}

/// One bucket: a field of a state-table slot and its per-minute limit.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    pub slot: usize,
    pub field: usize,
    pub limit: i64,
    pub unit: Unit,
}

/// What `BucketSet::admit` decided.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Index of the bucket that refused; None: admitted (every bucket charged).
    pub refused: Option<usize>,
    /// The refused request costs more than that bucket's whole capacity.
    pub never: bool,
    /// How long until the refused request would fit.
    pub wait_ns: i64,
    /// Units the refusing bucket had in use.
    pub used: i64,
    /// OpenAI's x-ratelimit-* headers, lower-case names.
    pub headers: Vec<(&'static str, String)>,
}

pub struct BucketSet {
    table: Arc<StateTable>,
    buckets: Vec<Bucket>,
}

impl BucketSet {
    /// Checks every slot and field now, so `admit` cannot fail on them later.
    pub fn new(table: Arc<StateTable>, buckets: Vec<Bucket>) -> Result<Self, Error> {
        for b in &buckets {
            table.field(b.slot, b.field)?;
        }
        Ok(BucketSet { table, buckets })
    }

    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    fn cell(&self, b: &Bucket) -> Result<&AtomicI64, Error> {
        self.table.field(b.slot, b.field)
    }

    fn units(b: &Bucket, requests: i64, tokens: i64) -> i64 {
        match b.unit {
            Unit::Requests => requests,
            Unit::Tokens => tokens,
        }
    }

    /// Takes `requests` from every request bucket and `tokens` from every token
    /// bucket, or nothing at all.
    pub fn admit(&self, requests: i64, tokens: i64, now: i64) -> Result<Verdict, Error> {
        let mut verdict = Verdict::default();
        for (i, b) in self.buckets.iter().enumerate() {
            let gcra = Gcra { limit: b.limit };
            let units = Self::units(b, requests, tokens);
            let outcome = gcra.take(self.cell(b)?, units, now);
            let (wait, never, tat) = match outcome {
                Take::Taken { .. } => continue,
                Take::Later { wait_ns, tat } => (wait_ns, false, tat),
                Take::Never => (0, true, self.cell(b)?.load(Ordering::Acquire)),
            };
            for done in &self.buckets[..i] {
                let g = Gcra { limit: done.limit };
                g.give_back(self.cell(done)?, Self::units(done, requests, tokens));
            }
            let (remaining, _) = gcra.status(tat, now);
            verdict.refused = Some(i);
            verdict.never = never;
            verdict.wait_ns = wait;
            verdict.used = b.limit - remaining;
            break;
        }
        verdict.headers = self.headers(now)?;
        Ok(verdict)
    }

    /// Returns unused tokens (the answer was shorter than max_tokens).
    pub fn refund(&self, tokens: i64) -> Result<(), Error> {
        for b in self.buckets.iter().filter(|b| b.unit == Unit::Tokens) {
            Gcra { limit: b.limit }.give_back(self.cell(b)?, tokens);
        }
        Ok(())
    }

    /// Per unit, the bucket with the smallest remaining fraction: OpenAI's six
    /// headers (three when only one unit is limited).
    pub fn headers(&self, now: i64) -> Result<Vec<(&'static str, String)>, Error> {
        let mut out = Vec::with_capacity(6);
        for (unit, names) in [
            (
                Unit::Requests,
                [
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ],
            ),
            (
                Unit::Tokens,
                [
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                ],
            ),
        ] {
            // (remaining/limit as a cross-multiplied pair, limit, remaining, reset)
            let mut tightest: Option<(i64, i64, i64)> = None;
            for b in self.buckets.iter().filter(|b| b.unit == unit) {
                let tat = self.cell(b)?.load(Ordering::Acquire);
                let (remaining, reset) = Gcra { limit: b.limit }.status(tat, now);
                let tighter = match tightest {
                    None => true,
                    Some((lim, rem, _)) => {
                        i128::from(remaining) * i128::from(lim)
                            < i128::from(rem) * i128::from(b.limit)
                    }
                };
                if tighter {
                    tightest = Some((b.limit, remaining, reset));
                }
            }
            if let Some((limit, remaining, reset)) = tightest {
                out.push((names[0], limit.to_string()));
                out.push((names[1], remaining.to_string()));
                out.push((names[2], go_duration(reset)));
            }
        }
        Ok(out)
    }
}

/// Leased units a machine holds (Redis mode): plain counters, taken all or nothing.
impl BucketSet {
    /// Takes from the counters at `field + offset` of every bucket; on a short
    /// one, gives back what was taken and returns its index.
    pub fn take_pool(
        &self,
        offset: usize,
        requests: i64,
        tokens: i64,
    ) -> Result<Option<usize>, Error> {
        for (i, b) in self.buckets.iter().enumerate() {
            let units = Self::units(b, requests, tokens);
            let cell = self.table.field(b.slot, b.field + offset)?;
            let mut have = cell.load(Ordering::Acquire);
            let short = loop {
                if have < units {
                    break true;
                }
                match cell.compare_exchange_weak(
                    have,
                    have - units,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break false,
                    Err(seen) => have = seen,
                }
            };
            if short {
                for done in &self.buckets[..i] {
                    let back = Self::units(done, requests, tokens);
                    self.table
                        .field(done.slot, done.field + offset)?
                        .fetch_add(back, Ordering::AcqRel);
                }
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Adds `units` to bucket `index`'s counter at `field + offset`; returns the new value.
    pub fn add_pool(&self, offset: usize, index: usize, units: i64) -> Result<i64, Error> {
        let b = self.buckets.get(index).ok_or(Error::BadSlot(index))?;
        let cell = self.table.field(b.slot, b.field + offset)?;
        Ok(cell.fetch_add(units, Ordering::AcqRel) + units)
    }
}
