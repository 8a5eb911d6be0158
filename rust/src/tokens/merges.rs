//! Merges by part ids: the rank of two adjacent parts' merge, looked up by
//! their two ids (one probe into a table of words) instead of by their bytes.
//!
//! Only one pair of parts ever merges into a given token T: BPE of T's bytes
//! alone, stopped before the last merge, leaves two parts A and B (T's
//! "split"); in any piece, the parts that merge into T are A and B. (Before
//! T forms, no pair reaching across T's edges merged, else no part could end
//! at both of them; so every merge inside T's bytes was the lowest pair
//! among them, in the same order as BPE of T alone: the last two parts are
//! A and B.) So a pair of parts whose bytes make T in another way is never
//! the lowest pair: giving it no rank changes no merge, and the table holds
//! one entry per token, (A, B) → T, with no bytes to hash or compare.
//! Tokens that BPE of their bytes does not reach (more than two parts left)
//! have no entry: no merge makes them. Whole chars (`chars`) start as parts
//! that byte-level BPE forms there anyway, so this holds for them too.

use ahash::AHashMap;

use super::bpe::lowest;

/// Bits of one id in a key: up to 2M tokens (the shipped vocabularies have
/// under 152k); a larger vocabulary merges by bytes.
const BITS: u32 = 21;
const ID: u64 = (1 << BITS) - 1;
/// A free slot: its key part (the top 43 bits) matches no 42-bit key.
const EMPTY: u64 = u64::MAX;
/// The rank of a pair that merges into nothing.
pub const NO_PAIR: u32 = u32::MAX;

pub struct Merges {
    /// Open addressing, linear probing: `(a << BITS | b) << BITS | rank`.
    slots: Box<[u64]>,
    /// How far to shift a key's hash for a slot index.
    shift: u32,
}

#[inline]
fn key(a: u32, b: u32) -> u64 {
    u64::from(a) << BITS | u64::from(b)
}

impl Merges {
    /// The split of every token, or None when some rank does not fit in
    /// `BITS`, two tokens share a rank (ids would not name parts) or some
    /// byte is no token.
    pub fn new(tokens: &AHashMap<Vec<u8>, u32>) -> Option<Self> {
        let top = tokens.values().copied().max().unwrap_or(0);
        if u64::from(top) > ID {
            return None;
        }
        let mut seen = vec![false; top as usize + 1];
        for &rank in tokens.values() {
            if std::mem::replace(seen.get_mut(rank as usize)?, true) {
                return None;
            }
        }
        let mut bytes = [0u32; 256];
        for (b, r) in (0u8..=255).zip(bytes.iter_mut()) {
            *r = *tokens.get(&[b][..])?;
        }
        // shortest first: BPE of a token's bytes only merges into shorter
        // tokens, whose splits are in the table by then (and the token's
        // own pair is not, so the merge stops before it)
        let mut order: Vec<(&[u8], u32)> = tokens
            .iter()
            .filter(|(t, _)| t.len() > 1)
            .map(|(t, &r)| (t.as_slice(), r))
            .collect();
        order.sort_unstable_by_key(|(t, _)| t.len());
        // at most two thirds full (2 MB for each shipped vocabulary): a miss
        // (most lookups) still ends within a line or two; larger tables
        // measured no faster
        let size = (order.len() * 3 / 2).next_power_of_two().max(16);
        let mut table = Merges {
            slots: vec![EMPTY; size].into_boxed_slice(),
            shift: 64 - size.trailing_zeros(),
        };
        let (mut ids, mut pairs) = (Vec::new(), Vec::new());
        for (t, rank) in order {
            ids.clear();
            ids.extend(t.iter().map(|&b| bytes[usize::from(b)]));
            pairs.clear();
            pairs.extend(ids.windows(2).map(|w| table.get(w[0], w[1])));
            table.merge(&mut ids, &mut pairs);
            if let [a, b] = ids[..] {
                table.insert(key(a, b), rank);
            }
        }
        Some(table)
    }

    fn insert(&mut self, k: u64, rank: u32) {
        let mask = self.slots.len() - 1;
        let mut i = slot(k, self.shift);
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = k << BITS | u64::from(rank);
    }

    /// The rank of the token parts `a` and `b` merge into, or `NO_PAIR`.
    #[inline]
    pub fn get(&self, a: u32, b: u32) -> u32 {
        let k = key(a, b);
        let mask = self.slots.len() - 1;
        let mut i = slot(k, self.shift);
        loop {
            let s = self.slots[i];
            if s >> BITS == k {
                return (s & ID) as u32;
            }
            if s == EMPTY {
                return NO_PAIR;
            }
            i = (i + 1) & mask;
        }
    }

    /// BPE of the parts `ids` (their ranks), lowest rank first, leftmost on
    /// ties; `pairs[i]` is the rank of parts i and i + 1 at the start.
    #[inline]
    pub fn merge(&self, ids: &mut Vec<u32>, pairs: &mut Vec<u32>) {
        loop {
            let Some((i, low)) = lowest(pairs) else {
                return;
            };
            if low == NO_PAIR {
                return;
            }
            ids[i] = low;
            ids.remove(i + 1);
            pairs.remove(i);
            if i > 0 {
                pairs[i - 1] = self.get(ids[i - 1], low);
            }
            if let Some(&next) = ids.get(i + 1) {
                pairs[i] = self.get(low, next);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|&&s| s != EMPTY).count()
    }
}

#[inline]
fn slot(k: u64, shift: u32) -> usize {
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(tokens: &[(&[u8], u32)]) -> AHashMap<Vec<u8>, u32> {
        let mut ranks: AHashMap<Vec<u8>, u32> =
            (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
        for &(t, r) in tokens {
            ranks.insert(t.to_vec(), r);
        }
        ranks
    }

    fn id(b: u8) -> u32 {
        u32::from(b)
    }

    #[test]
    fn each_token_has_only_the_split_bpe_of_its_bytes_ends_with() {
        // "abc" is "ab" + "c" (ab merges first), never "a" + "bc"; "abcd"
        // is "abc" + "d"; "xyz" is no merge ("xy", "yz" are no tokens)
        let m = Merges::new(&vocab(&[
            (b"ab", 300),
            (b"bc", 301),
            (b"abc", 302),
            (b"abcd", 303),
            (b"xyz", 304),
        ]))
        .unwrap();
        assert_eq!(m.get(id(b'a'), id(b'b')), 300);
        assert_eq!(m.get(id(b'b'), id(b'c')), 301);
        assert_eq!(m.get(300, id(b'c')), 302);
        assert_eq!(m.get(id(b'a'), 301), NO_PAIR);
        assert_eq!(m.get(302, id(b'd')), 303);
        assert_eq!(m.get(300, id(b'c') + 1), NO_PAIR);
        assert_eq!(m.get(id(b'x'), id(b'y')), NO_PAIR);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn the_later_pair_wins_when_its_rank_is_lower() {
        // "bc" before "ab": "abc" is "a" + "bc", and "ab" + "c" merges nothing
        let m = Merges::new(&vocab(&[(b"bc", 300), (b"ab", 301), (b"abc", 302)])).unwrap();
        assert_eq!(m.get(id(b'a'), 300), 302);
        assert_eq!(m.get(301, id(b'c')), NO_PAIR);
        // on a tie (one token twice in a piece), the leftmost merges first
        let m = Merges::new(&vocab(&[(b"aa", 300), (b"aaa", 301)])).unwrap();
        assert_eq!(m.get(300, id(b'a')), 301);
        assert_eq!(m.get(id(b'a'), 300), NO_PAIR);
        let mut ids = vec![id(b'a'); 5];
        let mut pairs: Vec<u32> = ids.windows(2).map(|w| m.get(w[0], w[1])).collect();
        m.merge(&mut ids, &mut pairs);
        // a a a a a -> aa a a a -> aa aa a -> aa aaa
        assert_eq!(ids, vec![300, 301]);
    }

    #[test]
    fn ids_that_name_no_single_token_turn_the_table_off() {
        // two tokens with one rank
        assert!(Merges::new(&vocab(&[(b"ab", 300), (b"cd", 300)])).is_none());
        // a rank past what a key holds
        assert!(Merges::new(&vocab(&[(b"ab", 1 << BITS)])).is_none());
        // a byte that is no token
        let mut v = vocab(&[(b"ab", 300)]);
        v.remove(&vec![0xFF]);
        assert!(Merges::new(&v).is_none());
    }
}
