//! Counts of text already seen, so repeated prompt parts cost a hash, not a
//! tokenization.
//!
//! Chat traffic repeats itself: system prompts, tool definitions, the earlier
//! turns of a conversation, the template's own text. A chat template puts
//! special tokens around every message, so each text segment is tokenized on
//! its own and its count can be reused exactly. Counting is the costliest
//! part of admission (microseconds per hundred bytes); a hit is a hash and a
//! map lookup.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before the map starts over (a cheap bound: no LRU bookkeeping
/// on the hot path; a hot set refills within a few requests).
pub const DEFAULT_CAPACITY: usize = 16_384;

/// The capacity for new tokenizers: `PROVOCAPI_TOKEN_CACHE` (entries; 0 turns
/// the cache off, e.g. to measure cold counting), else the default.
pub fn cache_capacity() -> usize {
    std::env::var("PROVOCAPI_TOKEN_CACHE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CAPACITY)
}

/// Even short texts are cached: a tokenizer call has a fixed cost of
/// microseconds, a hash of a few bytes costs nanoseconds.
const MIN_CACHED_LEN: usize = 1;

pub struct CountCache {
    map: Mutex<HashMap<u64, u32>>,
    capacity: usize,
}

impl CountCache {
    pub fn new(capacity: usize) -> Self {
        CountCache {
            map: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
            capacity,
        }
    }

    /// The count of `text`, from the cache or from `count` (then remembered).
    pub fn get_or_count(&self, text: &str, count: impl FnOnce(&str) -> usize) -> usize {
        self.get_or_count_up_to(text, usize::MAX, count)
    }

    /// The same for a count bounded by `limit`: a result above it is where
    /// counting stopped, not the count, so it is not remembered (a cached
    /// count is exact, whatever the limit).
    pub fn get_or_count_up_to(
        &self,
        text: &str,
        limit: usize,
        count: impl FnOnce(&str) -> usize,
    ) -> usize {
        if text.len() < MIN_CACHED_LEN || self.capacity == 0 {
            return count(text);
        }
        let key = hash(text.as_bytes());
        if let Ok(map) = self.map.lock() {
            if let Some(&n) = map.get(&key) {
                return n as usize;
            }
        }
        let n = count(text);
        if n > limit {
            return n;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, u32::try_from(n).unwrap_or(u32::MAX));
        }
        n
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A 64-bit hash of the bytes and their length (multiply-fold over 8-byte
/// words): fast, well mixed, and collisions at 2^-64 only misstate a count.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K) ^ 0xA076_1D64_78BD_642F;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold(h ^ u64::from_le_bytes(w), K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(w), 0xE703_7ED1_A0B4_28DB);
    }
    fold(h, K)
}

fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a).wrapping_mul(u128::from(b));
    (m as u64) ^ ((m >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn second_lookup_does_not_count_again() {
        let cache = CountCache::new(8);
        let calls = Cell::new(0);
        let count = |t: &str| {
            calls.set(calls.get() + 1);
            t.len() / 4
        };
        let text = "a system prompt that every request of this tenant repeats";
        assert_eq!(cache.get_or_count(text, count), text.len() / 4);
        assert_eq!(cache.get_or_count(text, count), text.len() / 4);
        assert_eq!(calls.get(), 1);
        // Short texts too; the empty text is never looked up.
        cache.get_or_count("hi", count);
        cache.get_or_count("hi", count);
        cache.get_or_count("", count);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_count_stopped_at_its_limit_is_not_remembered() {
        let cache = CountCache::new(8);
        let text = "ten tokens or so, counted twice when stopped";
        assert_eq!(cache.get_or_count_up_to(text, 3, |_| 4), 4);
        assert!(cache.is_empty());
        assert_eq!(cache.get_or_count_up_to(text, 100, |_| 10), 10);
        // exact, so it serves any limit after
        assert_eq!(cache.get_or_count_up_to(text, 3, |_| 4), 10);
    }

    #[test]
    fn full_cache_starts_over_and_stays_bounded() {
        let cache = CountCache::new(4);
        for i in 0..10 {
            let t = format!("{i:>40}");
            cache.get_or_count(&t, |t| t.len());
            assert!(cache.len() <= 4);
        }
    }

    #[test]
    fn hash_tells_close_texts_apart() {
        let a = hash(b"the same prefix, then one byte differs: a");
        let b = hash(b"the same prefix, then one byte differs: b");
        assert_ne!(a, b);
        assert_ne!(hash(b"abc"), hash(b"abc\0"));
    }
}
