//! The adapters a worker holds, as an approximate LRU in its adapter slot:
//! fields 0..LORA_MAX hold `lora_int_id`s (0: empty), fields LORA_MAX.. the
//! clock of their last use. Two processes racing on one entry at worst evict
//! the wrong adapter once; the worker itself loads whatever it is sent.

use super::LORA_MAX;
use crate::state::{Error, StateTable};

pub fn holds(table: &StateTable, slot: usize, max: usize, adapter: i64) -> Result<bool, Error> {
    for i in 0..max.min(LORA_MAX) {
        if table.get(slot, i)? == adapter {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Adapters held (non-empty entries).
pub fn count(table: &StateTable, slot: usize, max: usize) -> Result<usize, Error> {
    let mut n = 0;
    for i in 0..max.min(LORA_MAX) {
        if table.get(slot, i)? != 0 {
            n += 1;
        }
    }
    Ok(n)
}

/// The use clock of the adapter the worker would evict next (MIN when it has room).
pub fn oldest(table: &StateTable, slot: usize, max: usize) -> Result<i64, Error> {
    let mut oldest = i64::MAX;
    for i in 0..max.min(LORA_MAX) {
        let used = if table.get(slot, i)? == 0 {
            i64::MIN
        } else {
            table.get(slot, LORA_MAX + i)?
        };
        oldest = oldest.min(used);
    }
    Ok(oldest)
}

/// Marks `adapter` used now; loads it in place of the least recently used one
/// when absent. Returns whether it was held already.
pub fn touch(
    table: &StateTable,
    slot: usize,
    max: usize,
    adapter: i64,
    clock: i64,
) -> Result<bool, Error> {
    let max = max.min(LORA_MAX);
    let mut victim = 0;
    let mut oldest = i64::MAX;
    for i in 0..max {
        let id = table.get(slot, i)?;
        if id == adapter {
            table.fetch_max(slot, LORA_MAX + i, clock)?;
            return Ok(true);
        }
        let used = if id == 0 {
            i64::MIN
        } else {
            table.get(slot, LORA_MAX + i)?
        };
        if used < oldest {
            oldest = used;
            victim = i;
        }
    }
    if max > 0 {
        table.set(slot, victim, adapter)?;
        table.set(slot, LORA_MAX + victim, clock)?;
    }
    Ok(false)
}
