//! The rank of a byte string, looked up with as few cache misses as we can.
//!
//! BPE asks for the rank of some span of the piece at every step, most of
//! the time for a span that is no token at all. A `HashMap<Vec<u8>, u32>`
//! hashes the span, then follows a matching key's pointer to compare the
//! bytes: a second cache miss on every hit. Here:
//! - two-byte spans (the first lookup of every byte pair) index a flat table;
//! - tokens of up to 15 bytes (nearly all of them) are their own key, packed
//!   into two words with their length, in a SwissTable whose one-byte tags
//!   answer most misses from a small, cache-resident array;
//! - longer tokens live in an ordinary map;
//! - tokens with a byte past ASCII sit in a table of their own: the spans
//!   CJK and Cyrillic text ask for probe only it, smaller than all tokens
//!   together, so more of it stays in cache (and the same for English).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use ahash::AHashMap;

/// Tokens up to this many bytes are packed inline (the top byte holds the length).
const INLINE: usize = 15;
/// `pairs` entry of a two-byte string that is no token.
const NONE: u32 = u32::MAX;

type ShortMap = HashMap<(u64, u64), u32, BuildHasherDefault<FoldHasher>>;

/// The high bit of every byte of a packed key (the length byte never has it).
const HIGH: u64 = 0x8080_8080_8080_8080;

#[inline]
fn is_wide(key: (u64, u64)) -> bool {
    (key.0 | key.1) & HIGH != 0
}

pub struct Ranks {
    /// The rank of each two-byte string, by its big-endian value.
    pairs: Box<[u32]>,
    /// Inline tokens of ASCII bytes only.
    short: ShortMap,
    /// Inline tokens with some byte past ASCII.
    wide: ShortMap,
    long: AHashMap<Box<[u8]>, u32>,
    /// The length of the longest token: a longer span is no token.
    max_len: usize,
}

/// Hashes the packed key: one 64x64→128 multiply, folded (the keys are
/// already dense bytes, so no more mixing is needed for a table's index).
/// The key stays two `u64`s: a `u128` would align each slot to 16 bytes,
/// 32 instead of 24, a third more table to miss in.
#[derive(Default)]
pub struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    #[inline]
    fn write_u64(&mut self, w: u64) {
        let m = u128::from(self.0 ^ w ^ 0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(u128::from(0xA076_1D64_78BD_642F_u64));
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

#[inline]
fn read_u32(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

#[inline]
fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Up to 8 bytes as a little-endian word, zero-padded; overlapping loads
/// instead of a byte loop (the overlap ORs equal bytes).
#[inline]
fn word(b: &[u8]) -> u64 {
    let n = b.len();
    match n {
        0 => 0,
        1..=3 => {
            u64::from(b[0])
                | u64::from(b[n / 2]) << (8 * (n / 2))
                | u64::from(b[n - 1]) << (8 * (n - 1))
        }
        4..=7 => read_u32(b, 0) | read_u32(b, n - 4) << (8 * (n - 4)),
        _ => read_u64(b, 0),
    }
}

/// `bytes` (1 to INLINE of them) as two words, the length in the top byte.
#[inline]
fn pack(bytes: &[u8]) -> (u64, u64) {
    let n = bytes.len();
    let len = (n as u64) << 56;
    if n <= 8 {
        (word(bytes), len)
    } else {
        (read_u64(bytes, 0), word(&bytes[8..]) | len)
    }
}

impl Ranks {
    pub fn new(ranks: impl IntoIterator<Item = (Vec<u8>, u32)>) -> Self {
        let items: Vec<(Vec<u8>, u32)> = ranks.into_iter().collect();
        let inline = |wide: bool| {
            items
                .iter()
                .filter(|(b, _)| (1..=INLINE).contains(&b.len()) && b.is_ascii() != wide)
                .count()
        };
        let mut table = Ranks {
            pairs: vec![NONE; 1 << 16].into_boxed_slice(),
            short: HashMap::with_capacity_and_hasher(inline(false), BuildHasherDefault::default()),
            wide: HashMap::with_capacity_and_hasher(inline(true), BuildHasherDefault::default()),
            long: AHashMap::new(),
            max_len: 0,
        };
        for (bytes, rank) in items {
            let n = bytes.len();
            table.max_len = table.max_len.max(n);
            if n == 2 {
                table.pairs[usize::from(bytes[0]) << 8 | usize::from(bytes[1])] = rank;
            }
            if n == 0 {
                continue;
            } else if n <= INLINE {
                let key = pack(&bytes);
                if is_wide(key) {
                    table.wide.insert(key, rank);
                } else {
                    table.short.insert(key, rank);
                }
            } else {
                table.long.insert(bytes.into_boxed_slice(), rank);
            }
        }
        table
    }

    /// The rank of the two bytes `a b`, if they are a token.
    #[inline]
    pub fn pair(&self, a: u8, b: u8) -> Option<u32> {
        let r = self.pairs[usize::from(a) << 8 | usize::from(b)];
        (r != NONE).then_some(r)
    }

    #[inline]
    pub fn get(&self, bytes: &[u8]) -> Option<u32> {
        let n = bytes.len();
        if n > INLINE {
            return self.get_long(bytes);
        }
        if n == 0 {
            return None;
        }
        let key = pack(bytes);
        if is_wide(key) {
            self.wide.get(&key).copied()
        } else {
            self.short.get(&key).copied()
        }
    }

    /// Out of line: a token of more than INLINE bytes is rare, and its map's
    /// lookup would otherwise make every short lookup save and restore the
    /// registers it needs.
    #[cold]
    #[inline(never)]
    fn get_long(&self, bytes: &[u8]) -> Option<u32> {
        if bytes.len() > self.max_len {
            return None;
        }
        self.long.get(bytes).copied()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.short.len() + self.wide.len() + self.long.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_token_and_nothing_else() {
        let mut tokens: Vec<(Vec<u8>, u32)> =
            (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
        tokens.push((vec![0, 0], 256)); // zero bytes are still a key
        tokens.push((b"fifteen bytes!!".to_vec(), 257));
        tokens.push((b"sixteen bytes!!!".to_vec(), 258));
        tokens.push((b"a much longer token than fits inline".to_vec(), 259));
        for n in 2..=16 {
            let t: Vec<u8> = (0..n).map(|i| b'a' + i as u8 * 3 % 26).collect();
            tokens.push((t, 300 + n));
        }
        let t = Ranks::new(tokens.clone());
        assert_eq!(t.len(), tokens.len());
        for (b, r) in &tokens {
            assert_eq!(t.get(b), Some(*r), "{b:?}");
        }
        assert_eq!(t.pair(0, 0), Some(256));
        assert_eq!(t.pair(b'a', b'd'), Some(302));
        assert_eq!(t.pair(b'a', b'b'), None);
        let long = b"x".repeat(99);
        for miss in [
            &b""[..],
            b"ab",
            b"\0\0\0",
            b"\0\0\0\0\0\0\0\0\0",
            b"fifteen bytes!",
            b"sixteen bytes!!!!",
            &long,
        ] {
            assert_eq!(t.get(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn packing_tells_every_short_string_apart() {
        // every string of 1..=INLINE bytes over a small alphabet, with zeros
        let mut seen = std::collections::HashSet::new();
        let alphabet = [0u8, 1, 0xFF];
        for n in 1..=INLINE {
            for k in 0..200u32 {
                let s: Vec<u8> = (0..n)
                    .map(|i| alphabet[(k as usize / 3usize.pow(i as u32 % 5)) % 3])
                    .collect();
                let p = pack(&s);
                let mut buf = [0u8; 16];
                buf[..n].copy_from_slice(&s);
                buf[15] = n as u8;
                let mut want = [0u8; 8];
                want.copy_from_slice(&buf[..8]);
                assert_eq!(p.0, u64::from_le_bytes(want), "{s:?}");
                want.copy_from_slice(&buf[8..]);
                assert_eq!(p.1, u64::from_le_bytes(want), "{s:?}");
                seen.insert(p);
            }
        }
        assert!(seen.len() > 500);
    }
}
