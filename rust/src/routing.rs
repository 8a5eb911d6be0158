//! Routing decisions over the shared state table: which worker of a pool
//! takes a request, given every process's in-flight counts, the concurrency
//! caps, health, the workers' own queue and KV-cache figures, the adapters
//! each worker holds and the request's conversation prefix.
//!
//! A pool is a list of workers; each worker owns two table slots (load and
//! adapters) keyed by model and URL, so every process, and a pool rebuilt by a
//! config reload, meets the same counters. A pick is one scan of the pool
//! and one atomic add that claims a unit of the worker's concurrency.

mod fields;
mod head_json;
mod homes;
mod lora;
mod pick;
#[cfg(test)]
mod tests;
mod worker_stats;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::state::{Error, StateTable};

pub use fields::*;
pub use head_json::push_json_str;
pub use pick::{prefix_hash, Policy};
pub use worker_stats::{last_iteration, WorkerStats};

/// One worker of a pool: its two slots and its static settings.
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    pub load_slot: usize,
    pub lora_slot: usize,
    /// Relative share of traffic (> 0).
    pub weight: u32,
    /// Adapters the worker keeps loaded (0: none tracked), at most `LORA_MAX`.
    pub max_loras: usize,
}

/// What a request asks of the pick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask {
    /// The adapter's `lora_int_id`, 0 for the base model.
    pub adapter: i64,
    /// A hash of the conversation prefix (`prefix_hash`), 0 for none.
    pub prefix: u64,
    /// Bit i set: worker i was already tried for this request.
    pub exclude: u64,
}

/// The outcome of a pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Worker `index` took the request (its in-flight count is already raised);
    /// `adapter_hit` tells whether it held the asked adapter already.
    Worker { index: usize, adapter_hit: bool },
    /// Ready workers exist but every one is at its max concurrency.
    Full,
    /// No worker is ready (all down, starting, ejected or excluded).
    NoneReady,
}

pub struct Pool {
    table: Arc<StateTable>,
    workers: Vec<WorkerSpec>,
    /// Shared slot whose first field is the adapters' use clock.
    clock_slot: usize,
    /// Prefix affinity may load its worker up to this multiple of the mean load.
    load_factor: f64,
    /// The same for adapter affinity, looser: loading an adapter costs more
    /// than waiting behind a few requests.
    adapter_load_factor: f64,
    policy: Policy,
    homes: homes::Homes,
    /// Rotates the scan's start so ties spread across workers.
    turn: AtomicUsize,
    /// Per worker: the slot where this process books the units it holds there
    /// (its routing ledger, so its death gives them back), `NOT_HELD` for none.
    /// A pick and a release book it with the unit itself: one call, not two.
    held: Vec<AtomicUsize>,
}

/// `held`'s mark for a worker whose units are booked nowhere else.
const NOT_HELD: usize = usize::MAX;

/// Most workers a pool may have: exclusions are a u64 bit set.
pub const MAX_WORKERS: usize = 64;

impl Pool {
    pub fn new(
        table: Arc<StateTable>,
        workers: Vec<WorkerSpec>,
        clock_slot: usize,
        load_factors: (f64, f64),
        policy: Policy,
        home_slots: Vec<usize>,
    ) -> Result<Self, String> {
        let (load_factor, adapter_load_factor) = load_factors;
        if workers.len() > MAX_WORKERS {
            return Err(format!("a pool has at most {MAX_WORKERS} workers"));
        }
        if workers.iter().any(|w| w.weight == 0) {
            return Err("worker weights must be positive".into());
        }
        if workers.iter().any(|w| w.max_loras > LORA_MAX) {
            return Err(format!("max_loras is at most {LORA_MAX}"));
        }
        if ![load_factor, adapter_load_factor]
            .iter()
            .all(|f| f.is_finite() && *f >= 1.0)
        {
            return Err("load factors must be finite numbers >= 1".into());
        }
        let held = workers.iter().map(|_| AtomicUsize::new(NOT_HELD)).collect();
        Ok(Pool {
            table,
            workers,
            clock_slot,
            load_factor,
            adapter_load_factor,
            policy,
            held,
            homes: homes::Homes::new(home_slots),
            turn: AtomicUsize::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Picks a worker and claims one unit of its concurrency.
    pub fn pick(&self, ask: Ask) -> Result<Pick, Error> {
        // Another process may claim the last unit between our read and our
        // add: then undo and look again, a bounded number of times.
        let home = if ask.prefix != 0 {
            self.homes.get(&self.table, ask.prefix)?
        } else {
            None
        };
        for _ in 0..4 {
            let chosen = match pick::choose(self, ask, home)? {
                pick::Choice::Worker(i) => i,
                pick::Choice::Full => return Ok(Pick::Full),
                pick::Choice::NoneReady => return Ok(Pick::NoneReady),
            };
            let w = &self.workers[chosen];
            let cap = self.table.get(w.load_slot, F_MAX_CONCURRENCY)?;
            let now = self.table.add(w.load_slot, F_IN_FLIGHT, 1)?;
            if cap > 0 && now > cap {
                self.table.add(w.load_slot, F_IN_FLIGHT, -1)?;
                continue;
            }
            self.book(chosen, 1)?;
            if ask.prefix != 0 && home != Some(chosen) {
                self.homes.set(&self.table, ask.prefix, chosen)?;
            }
            let adapter_hit = if ask.adapter > 0 && w.max_loras > 0 {
                let clock = self.table.add(self.clock_slot, 0, 1)?;
                lora::touch(&self.table, w.lora_slot, w.max_loras, ask.adapter, clock)?
            } else {
                false
            };
            return Ok(Pick::Worker {
                index: chosen,
                adapter_hit,
            });
        }
        Ok(Pick::Full)
    }

    /// Gives back the unit `pick` claimed on worker `index`.
    pub fn release(&self, index: usize) -> Result<(), Error> {
        let Some(w) = self.workers.get(index) else {
            return Err(Error::BadSlot(index));
        };
        let left = self.table.add(w.load_slot, F_IN_FLIGHT, -1)?;
        if left < 0 {
            // A count reset by a restart must not go negative and attract traffic.
            self.table
                .compare_and_swap(w.load_slot, F_IN_FLIGHT, left, 0)?;
        }
        self.book(index, -1)
    }

    /// From now on a pick of worker i (a release) also adds 1 (-1) to field 0 of
    /// `slots[i]`; one slot per worker, each checked here (a pick must not fail
    /// after it claimed its unit).
    pub fn hold(&self, slots: &[usize]) -> Result<(), Error> {
        if slots.len() != self.workers.len() {
            return Err(Error::BadSlot(slots.len()));
        }
        for &slot in slots {
            self.table.get(slot, 0)?;
        }
        for (held, &slot) in self.held.iter().zip(slots) {
            held.store(slot, Ordering::Relaxed);
        }
        Ok(())
    }

    fn book(&self, index: usize, delta: i64) -> Result<(), Error> {
        match self.held.get(index).map(|h| h.load(Ordering::Relaxed)) {
            Some(slot) if slot != NOT_HELD => self.table.add(slot, 0, delta).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Does worker `index` hold `adapter` among its most recent `max_loras`?
    pub fn holds(&self, index: usize, adapter: i64) -> Result<bool, Error> {
        let Some(w) = self.workers.get(index) else {
            return Err(Error::BadSlot(index));
        };
        lora::holds(&self.table, w.lora_slot, w.max_loras, adapter)
    }

    fn next_turn(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed)
    }
}
