//! Where recent conversation prefixes were last sent: a direct-mapped cache in
//! shared slots (every field one entry), so each process sends the next turn
//! of a conversation to the worker that holds its KV cache. An entry packs a
//! 55-bit tag of the prefix hash with the worker's index; a colliding prefix
//! simply overwrites it (the cost is one cache miss on the worker).

use crate::state::{Error, StateTable};

const TAG_MASK: u64 = (1 << 55) - 1;

pub struct Homes {
    slots: Vec<usize>,
}

impl Homes {
    pub fn new(slots: Vec<usize>) -> Self {
        Homes { slots }
    }

    fn locate(&self, prefix: u64) -> Option<(usize, usize)> {
        let entries = (self.slots.len() * StateTable::FIELDS) as u64;
        if entries == 0 {
            return None;
        }
        let i = (prefix % entries) as usize;
        Some((self.slots[i / StateTable::FIELDS], i % StateTable::FIELDS))
    }

    fn tag(prefix: u64) -> i64 {
        ((prefix >> 8) & TAG_MASK) as i64
    }

    /// The worker index last recorded for `prefix`.
    pub fn get(&self, table: &StateTable, prefix: u64) -> Result<Option<usize>, Error> {
        let Some((slot, field)) = self.locate(prefix) else {
            return Ok(None);
        };
        let v = table.get(slot, field)?;
        if v > 0 && v >> 8 == Self::tag(prefix) {
            return Ok(Some(((v & 0xff) - 1) as usize));
        }
        Ok(None)
    }

    pub fn set(&self, table: &StateTable, prefix: u64, index: usize) -> Result<(), Error> {
        if let Some((slot, field)) = self.locate(prefix) {
            let index = (index as i64 + 1) & 0xff;
            table.set(slot, field, (Self::tag(prefix) << 8) | index)?;
        }
        Ok(())
    }
}
