//! The shared state table: a memory-mapped file of atomics that every gateway
//! worker process maps, so rate-limit buckets, in-flight counts and metrics
//! are one truth across processes at the cost of an atomic instruction.
//!
//! Keys are looked up by open addressing with linear probing. A slot goes
//! empty -> claiming (CAS, one winner) -> ready (Release store, after the key
//! is written) and never back, so two processes inserting the same key walk
//! the same probe sequence and meet at the same slot. Lookups are for set-up;
//! the hot path keeps the slot index and touches only its `AtomicI64` fields.

mod error;
mod layout;
mod open;
#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memmap2::MmapMut;

pub use error::Error;
use layout::*;

/// Spins this many times on a claiming slot before yielding the CPU.
const SPINS: u32 = 64;
/// A claim writes under 256 bytes; one still pending after this is abandoned.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(1);

pub struct StateTable {
    /// Owns the mapping; all access goes through `base`.
    _map: MmapMut,
    base: *mut u8,
    capacity: usize,
    path: PathBuf,
}

// SAFETY: `base` points into a mapping owned by the struct that lives as long
// as it does. Shared access is only through atomics, plus key bytes written by
// the single claimant of a slot before its Release store to "ready".
unsafe impl Send for StateTable {}
unsafe impl Sync for StateTable {}

impl StateTable {
    /// i64 fields per slot.
    pub const FIELDS: usize = FIELDS;
    /// Longest key, in UTF-8 bytes.
    pub const KEY_MAX: usize = KEY_MAX;
    pub const DEFAULT_CAPACITY: usize = 8192;

    /// Maps the file at `path`, creating and initialising it if it is empty.
    /// An existing file must have this build's layout and `capacity` slots.
    pub fn open(path: impl AsRef<Path>, capacity: usize) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut map = open::open(path, capacity)?;
        let base = map.as_mut_ptr();
        Ok(StateTable {
            _map: map,
            base,
            capacity,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The slot holding `key`, inserting it if absent.
    pub fn slot(&self, key: &str) -> Result<usize, Error> {
        self.probe(key.as_bytes(), true)?.ok_or(Error::Full {
            capacity: self.capacity,
        })
    }

    /// The slot holding `key`, if any.
    pub fn find(&self, key: &str) -> Result<Option<usize>, Error> {
        self.probe(key.as_bytes(), false)
    }

    /// A field of a ready slot, for callers that want the atomic itself.
    #[inline]
    pub fn field(&self, slot: usize, field: usize) -> Result<&AtomicI64, Error> {
        if field >= FIELDS {
            return Err(Error::BadField(field));
        }
        if slot >= self.capacity || self.state(slot).load(Ordering::Acquire) != READY {
            return Err(Error::BadSlot(slot));
        }
        // SAFETY: slot and field are in range, so the address is inside the
        // mapping and 8-byte aligned; the reference lives no longer than `self`.
        Ok(unsafe { AtomicI64::from_ptr(self.at(slot, FIELDS_OFFSET + field * 8).cast()) })
    }

    #[inline]
    pub fn get(&self, slot: usize, field: usize) -> Result<i64, Error> {
        Ok(self.field(slot, field)?.load(Ordering::Acquire))
    }

    #[inline]
    pub fn set(&self, slot: usize, field: usize, value: i64) -> Result<(), Error> {
        self.field(slot, field)?.store(value, Ordering::Release);
        Ok(())
    }

    /// Adds `delta` (wrapping) and returns the new value.
    #[inline]
    pub fn add(&self, slot: usize, field: usize, delta: i64) -> Result<i64, Error> {
        Ok(self
            .field(slot, field)?
            .fetch_add(delta, Ordering::AcqRel)
            .wrapping_add(delta))
    }

    /// Stores `new` if the field holds `expected`; true if it did.
    #[inline]
    pub fn compare_and_swap(
        &self,
        slot: usize,
        field: usize,
        expected: i64,
        new: i64,
    ) -> Result<bool, Error> {
        let f = self.field(slot, field)?;
        Ok(
            f.compare_exchange(expected, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
        )
    }

    /// Raises the field to at least `value`; returns the previous value.
    #[inline]
    pub fn fetch_max(&self, slot: usize, field: usize, value: i64) -> Result<i64, Error> {
        Ok(self.field(slot, field)?.fetch_max(value, Ordering::AcqRel))
    }

    /// The key of a slot, or None if the slot holds none (yet).
    pub fn key(&self, slot: usize) -> Result<Option<String>, Error> {
        if slot >= self.capacity {
            return Err(Error::BadSlot(slot));
        }
        match self.settled_state(slot)? {
            READY => self.key_bytes(slot).and_then(|b| utf8(slot, b)).map(Some),
            _ => Ok(None),
        }
    }

    /// (key, slot) of every ready slot whose key starts with `prefix`, in slot order.
    pub fn entries(&self, prefix: &str) -> Result<Vec<(String, usize)>, Error> {
        let mut out = Vec::new();
        for slot in 0..self.capacity {
            // Skip claims in flight rather than wait: a listing is a snapshot.
            if self.state(slot).load(Ordering::Acquire) != READY {
                continue;
            }
            let key = self.key_bytes(slot)?;
            if key.starts_with(prefix.as_bytes()) {
                out.push((utf8(slot, key)?, slot));
            }
        }
        Ok(out)
    }

    fn probe(&self, key: &[u8], insert: bool) -> Result<Option<usize>, Error> {
        if key.len() > KEY_MAX {
            return Err(Error::KeyTooLong {
                len: key.len(),
                max: KEY_MAX,
            });
        }
        let hash = hash_key(key);
        let start = (hash % self.capacity as u64) as usize;
        for step in 0..self.capacity {
            let slot = (start + step) % self.capacity;
            loop {
                match self.settled_state(slot)? {
                    READY if self.holds(slot, hash, key)? => return Ok(Some(slot)),
                    READY => break,
                    _ if !insert => return Ok(None),
                    _ => {
                        let state = self.state(slot);
                        if state
                            .compare_exchange(EMPTY, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                        {
                            self.write_key(slot, hash, key);
                            state.store(READY, Ordering::Release);
                            return Ok(Some(slot));
                        }
                        // Another process claimed it first: look again, it may be our key.
                    }
                }
            }
        }
        Ok(None)
    }

    /// The slot's state once it is not mid-claim: EMPTY or READY.
    fn settled_state(&self, slot: usize) -> Result<u32, Error> {
        let state = self.state(slot);
        let mut spins = 0u32;
        let mut since: Option<Instant> = None;
        loop {
            match state.load(Ordering::Acquire) {
                s @ (EMPTY | READY) => return Ok(s),
                CLAIMING => {}
                other => return Err(Error::Corrupt(format!("slot {slot} has state {other}"))),
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
            } else {
                let t0 = *since.get_or_insert_with(Instant::now);
                if t0.elapsed() > CLAIM_TIMEOUT {
                    return Err(Error::Stuck(slot));
                }
                std::thread::yield_now();
            }
        }
    }

    fn holds(&self, slot: usize, hash: u64, key: &[u8]) -> Result<bool, Error> {
        // SAFETY: slot < capacity (callers), offset aligned for u64.
        let stored =
            unsafe { AtomicU64::from_ptr(self.at(slot, S_HASH).cast()) }.load(Ordering::Relaxed);
        Ok(stored == hash && self.key_bytes(slot)? == key)
    }

    /// Key bytes of a READY slot (immutable once ready).
    fn key_bytes(&self, slot: usize) -> Result<&[u8], Error> {
        // SAFETY: slot < capacity (callers), offset aligned for u32.
        let len = unsafe { AtomicU32::from_ptr(self.at(slot, S_KEY_LEN).cast()) }
            .load(Ordering::Relaxed) as usize;
        if len > KEY_MAX {
            return Err(Error::Corrupt(format!(
                "slot {slot} has a key of {len} bytes"
            )));
        }
        // SAFETY: in the mapping; the claimant wrote these bytes before its
        // Release store of READY, which our Acquire load observed, and nobody
        // writes them again.
        Ok(unsafe { std::slice::from_raw_parts(self.at(slot, KEY_OFFSET), len) })
    }

    fn write_key(&self, slot: usize, hash: u64, key: &[u8]) {
        // SAFETY: we hold the claim on this slot, so nobody else writes or
        // reads its key area until we store READY; key.len() <= KEY_MAX.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), self.at(slot, KEY_OFFSET), key.len());
            AtomicU32::from_ptr(self.at(slot, S_KEY_LEN).cast())
                .store(key.len() as u32, Ordering::Relaxed);
            AtomicU64::from_ptr(self.at(slot, S_HASH).cast()).store(hash, Ordering::Relaxed);
        }
    }

    #[inline]
    fn state(&self, slot: usize) -> &AtomicU32 {
        debug_assert!(slot < self.capacity);
        // SAFETY: slot < capacity (every caller checks), aligned for u32.
        unsafe { AtomicU32::from_ptr(self.at(slot, S_STATE).cast()) }
    }

    /// Address of byte `offset` in `slot`. Computing it is safe; it is inside
    /// the mapping only while slot < capacity and offset < SLOT_SIZE, which
    /// every dereferencing caller ensures.
    #[inline]
    fn at(&self, slot: usize, offset: usize) -> *mut u8 {
        self.base.wrapping_add(slot_offset(slot) + offset)
    }
}

fn utf8(slot: usize, bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Corrupt(format!("slot {slot} has a key that is not UTF-8")))
}
