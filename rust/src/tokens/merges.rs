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
/// Pieces of up to this many parts merge on the stack (`merge_few`).
const FEW: usize = 16;
/// The parts `merge_few` moves at once, in line.
const SHIFT: usize = 8;

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
        // at most a third full (4 MB for each shipped vocabulary): most
        // probes, hits or misses, end at their first slot; at two thirds
        // full (2 MB) a miss read ~2.5 slots, and counting Cyrillic and
        // CJK was ~5% slower
        let size = (order.len() * 3).next_power_of_two().max(16);
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
        if ids.len() <= FEW && ids.len() == pairs.len() + 1 {
            self.merge_few(ids, pairs);
            pairs.clear();
            return;
        }
        self.merge_long(ids, pairs);
    }

    /// `merge` over the vectors themselves: a word of more than `FEW` parts
    /// (and the reference the stack merge is tested against).
    #[inline]
    fn merge_long(&self, ids: &mut Vec<u32>, pairs: &mut Vec<u32>) {
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

    /// `merge` for a word's few parts: each part and its pair with the next
    /// in one word (the pair's rank above the id), on the stack, so that a
    /// merge moves one array, not two, and the lowest pair is found with
    /// its place in one pass. The last part's pair is `NO_PAIR`.
    #[inline]
    fn merge_few(&self, ids: &mut Vec<u32>, pairs: &[u32]) {
        let part = |rank: u32, id: u32| u64::from(rank) << 32 | u64::from(id);
        let mut parts = [0u64; FEW + SHIFT];
        let mut n = ids.len();
        for (k, (p, &id)) in parts.iter_mut().zip(ids.iter()).enumerate() {
            *p = part(pairs.get(k).copied().unwrap_or(NO_PAIR), id);
        }
        while n > 1 {
            // the first of equal ranks: the leftmost lowest pair
            let Some((i, low)) = parts[..n - 1]
                .iter()
                .map(|&p| (p >> 32) as u32)
                .enumerate()
                .min_by_key(|&(_, r)| r)
            else {
                break;
            };
            if low == NO_PAIR {
                break;
            }
            // part i becomes the merged token, and part i + 1 goes
            let after = if i + 2 < n {
                self.get(low, parts[i + 2] as u32)
            } else {
                NO_PAIR
            };
            parts[i] = part(after, low);
            // a copy of a fixed size is a few moves in line, not a call;
            // the spare words past the parts let it run past the last one
            if n <= i + 2 + SHIFT {
                parts.copy_within(i + 2..i + 2 + SHIFT, i + 1);
            } else {
                parts.copy_within(i + 2..n, i + 1);
            }
            n -= 1;
            if i > 0 {
                let a = parts[i - 1] as u32;
                parts[i - 1] = part(self.get(a, low), a);
            }
        }
        ids.clear();
        ids.extend(parts[..n].iter().map(|&p| p as u32));
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

    /// The same merges as `merge`'s loop over vectors, for the few parts
    /// `merge_few` takes: ties, merges at both ends, runs of one token.
    #[test]
    fn few_parts_merge_as_the_vectors_do() {
        let m = Merges::new(&vocab(&[
            (b"aa", 300),
            (b"ab", 301),
            (b"aaa", 302),
            (b"ba", 303),
            (b"aab", 304),
            (b"abab", 305),
            (b"bb", 306),
        ]))
        .unwrap();
        // every string of a and b of 1 to 12 bytes, and 17 (more than FEW)
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for n in (1..=12).chain([17]) {
            for bits in 0u32..(1 << n.min(12)) {
                texts.push(
                    (0..n)
                        .map(|i| {
                            if bits >> (i % 12) & 1 == 1 {
                                b'b'
                            } else {
                                b'a'
                            }
                        })
                        .collect(),
                );
            }
        }
        for t in texts {
            let mut ids: Vec<u32> = t.iter().map(|&b| id(b)).collect();
            let mut pairs: Vec<u32> = ids.windows(2).map(|w| m.get(w[0], w[1])).collect();
            let (mut want, mut want_pairs) = (ids.clone(), pairs.clone());
            m.merge(&mut ids, &mut pairs);
            // the loop over vectors, as `merge` runs it past FEW parts
            m.merge_long(&mut want, &mut want_pairs);
            assert_eq!(ids, want, "{}", String::from_utf8_lossy(&t));
        }
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
