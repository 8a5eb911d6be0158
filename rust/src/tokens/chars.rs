//! Whole chars, merged before BPE where the vocabulary proves it changes nothing.
//!
//! Byte-level BPE spends most of its lookups on CJK and Cyrillic text merging
//! each char's 2–3 bytes back together before chars can pair up. For a char
//! `c` whose bytes `B` are one token, starting the merge with `B` as one part
//! gives the byte-level result exactly when, in the piece at hand:
//!
//! 1. BPE of `B` alone ends in the one token `B`; let `M` be the highest rank
//!    merged on the way (at least `B`'s own rank);
//! 2. every token that holds some of `c`'s bytes and some bytes of a
//!    neighbour (`X·B[..j]`, `B[j..]·Y`, or `X·B·Y` with `X` or `Y` not
//!    empty) ranks above `M`.
//!
//! Why: while `c` is still in pieces, its pieces evolve as BPE of `B` alone
//! (their pairs never involve a neighbour, whose pair ranks above `M`), and
//! its next merge ranks at most `M`; so no pair across its edges, or with it
//! whole, is ever the lowest before `c` is whole, and every other merge
//! happens in the same order with `c` whole from the start. Tokens cannot
//! appear in a piece unless their bytes are there, so condition 2 is checked
//! against the neighbours the piece has: none (the piece's edge: nothing to
//! check), an ASCII byte, or a non-ASCII char, on each side. Each side's
//! class gets one bit per char, computed when the vocabulary loads (one pass
//! over the tokens, ~10–30 ms); the table is a flat array over the Basic
//! Multilingual Plane (256 KB): chars beyond it stay bytes.

use ahash::AHashMap;

/// The bits of a table entry: the rank in the low 24, then which
/// neighbours leave the char safe to merge whole.
const RANK_BITS: u32 = 24;
const RANK_MASK: u32 = (1 << RANK_BITS) - 1;
const LEFT_ASCII: u32 = 1 << 24;
const LEFT_WIDE: u32 = 1 << 25;
const RIGHT_ASCII: u32 = 1 << 26;
const RIGHT_WIDE: u32 = 1 << 27;
/// Set for every char that is a token BPE reaches from its bytes.
const WHOLE: u32 = 1 << 28;
/// Chars in the Basic Multilingual Plane: 2 or 3 UTF-8 bytes (and ASCII).
const PLANE: usize = 1 << 16;

pub struct Chars {
    /// By codepoint: rank, neighbour bits and `WHOLE`; 0 when the char is
    /// no token or BPE does not reach it from its bytes.
    table: Box<[u32]>,
}

#[inline]
fn continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The length of the UTF-8 sequence a lead byte starts (0 for ASCII and
/// continuation bytes: nothing to merge).
#[inline]
fn wide_len(b: u8) -> usize {
    match b {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 0,
    }
}

/// Up to 3 bytes as one key (the length in the top byte).
fn key(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0u32, |k, &b| k << 8 | u32::from(b))
        .wrapping_add((bytes.len() as u32) << 24)
}

/// Which neighbour a token's outside byte stands for: ASCII or part of a wide char.
#[inline]
fn class(b: u8) -> usize {
    usize::from(b >= 0x80)
}

/// The lowest rank among tokens that reach across each char edge, by the
/// bytes of the char inside them and the neighbour's class.
#[derive(Default)]
struct Crossing {
    /// `X·B[..j]`: by `B[..j]` and X's last byte.
    left: [AHashMap<u32, u32>; 2],
    /// `B[j..]·Y`: by `B[j..]` and Y's first byte.
    right: [AHashMap<u32, u32>; 2],
    /// Tokens with the whole char and more, by codepoint: left when there
    /// are bytes before it (by the last of them), else right (by the next).
    whole_left: [AHashMap<u32, u32>; 2],
    whole_right: [AHashMap<u32, u32>; 2],
}

fn lower(map: &mut AHashMap<u32, u32>, k: u32, rank: u32) {
    let e = map.entry(k).or_insert(rank);
    *e = (*e).min(rank);
}

impl Crossing {
    fn note(&mut self, t: &[u8], rank: u32) {
        if t.is_ascii() {
            return; // most tokens: no char to reach into
        }
        let n = t.len();
        // a partial char at the end, after other bytes
        if let Some(i) = t.iter().rposition(|&b| !continuation(b)) {
            let need = wide_len(t[i]);
            if i > 0 && need > n - i {
                lower(&mut self.left[class(t[i - 1])], key(&t[i..]), rank);
            }
        }
        // the tail of a char at the start, then other bytes
        let m = t.iter().take_while(|&&b| continuation(b)).count();
        if m > 0 && m < n && m <= 3 {
            lower(&mut self.right[class(t[m])], key(&t[..m]), rank);
        }
        // whole chars with other bytes around them
        if n < 3 {
            return;
        }
        let mut j = 0;
        while j < n {
            let w = wide_len(t[j]);
            if (2..=3).contains(&w) && j + w <= n && n > w {
                if let Some(c) = decode(&t[j..j + w]) {
                    if j > 0 {
                        lower(&mut self.whole_left[class(t[j - 1])], c, rank);
                    } else {
                        lower(&mut self.whole_right[class(t[j + w])], c, rank);
                    }
                }
            }
            j += 1;
        }
    }

    /// The neighbour classes (bits) next to which `bytes` (one char, whose
    /// own merges rank at most `highest`) can merge whole.
    fn safe_bits(&self, bytes: &[u8], c: u32, highest: u32) -> u32 {
        let above = |map: &AHashMap<u32, u32>, k: u32| map.get(&k).map_or(true, |&r| r > highest);
        let k = bytes.len();
        let mut bits = 0;
        for (cls, bit) in [(0, LEFT_ASCII), (1, LEFT_WIDE)] {
            if (1..k).all(|j| above(&self.left[cls], key(&bytes[..j])))
                && above(&self.whole_left[cls], c)
            {
                bits |= bit;
            }
        }
        for (cls, bit) in [(0, RIGHT_ASCII), (1, RIGHT_WIDE)] {
            if (1..k).all(|j| above(&self.right[cls], key(&bytes[j..])))
                && above(&self.whole_right[cls], c)
            {
                bits |= bit;
            }
        }
        bits
    }
}

/// The codepoint of one whole 2- or 3-byte UTF-8 char.
#[inline]
fn decode(b: &[u8]) -> Option<u32> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        })
        .map(u32::from)
}

/// Plain byte-level BPE of a few bytes: the highest rank merged, when they
/// end as one token.
fn merges_whole(bytes: &[u8], ranks: &AHashMap<Vec<u8>, u32>) -> Option<u32> {
    let mut parts: Vec<Vec<u8>> = bytes.iter().map(|&b| vec![b]).collect();
    let mut highest = 0;
    while parts.len() > 1 {
        let best = (0..parts.len() - 1)
            .filter_map(|i| {
                let joined = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
                ranks.get(&joined).map(|&r| (r, i))
            })
            .min()?;
        let (r, i) = best;
        highest = highest.max(r);
        let right = parts.remove(i + 1);
        parts[i].extend(right);
    }
    Some(highest)
}

impl Chars {
    /// No char merges whole: plain byte-level BPE.
    #[cfg(test)]
    pub fn none() -> Self {
        Chars {
            table: Box::new([]),
        }
    }

    pub fn new(ranks: &AHashMap<Vec<u8>, u32>) -> Self {
        let mut crossing = Crossing::default();
        let mut singles = Vec::new();
        for (t, &rank) in ranks {
            crossing.note(t, rank);
            if (2..=3).contains(&t.len()) && wide_len(t[0]) == t.len() && rank <= RANK_MASK {
                if let Some(c) = decode(t) {
                    singles.push((t.as_slice(), c, rank));
                }
            }
        }
        let mut table = vec![0u32; PLANE].into_boxed_slice();
        for (t, c, rank) in singles {
            let Some(highest) = merges_whole(t, ranks) else {
                continue;
            };
            let bits = crossing.safe_bits(t, c, highest);
            if let Some(e) = table.get_mut(c as usize) {
                *e = rank | bits | WHOLE;
            }
        }
        Chars { table }
    }

    /// Chars that merge whole next to some kind of neighbour (all, when
    /// the piece is only them).
    #[cfg(test)]
    pub fn safe(&self) -> usize {
        let sides = LEFT_ASCII | LEFT_WIDE | RIGHT_ASCII | RIGHT_WIDE;
        self.table.iter().filter(|&&e| e & sides != 0).count()
    }

    /// The first parts of `piece`: where each starts, then its end. A char
    /// the table allows between these neighbours is one part; every other
    /// byte is a part of its own.
    pub fn starts(&self, piece: &[u8], out: &mut Vec<usize>) {
        out.clear();
        let n = piece.len();
        if self.table.is_empty() || piece.is_ascii() {
            out.extend(0..=n);
            return;
        }
        let mut i = 0;
        while i < n {
            out.push(i);
            let w = wide_len(piece[i]);
            if w == 2 || w == 3 {
                if let Some(end) = self.whole(piece, i, w) {
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
        out.push(n);
    }

    /// Where the char of `w` bytes at `i` ends, when it is one part here.
    #[inline]
    fn whole(&self, piece: &[u8], i: usize, w: usize) -> Option<usize> {
        let bytes = piece.get(i..i + w)?;
        let c = if w == 2 {
            u32::from(bytes[0] & 0x1F) << 6 | u32::from(bytes[1] & 0x3F)
        } else {
            u32::from(bytes[0] & 0x0F) << 12
                | u32::from(bytes[1] & 0x3F) << 6
                | u32::from(bytes[2] & 0x3F)
        };
        let e = *self.table.get(c as usize)?;
        let left_ok = match i.checked_sub(1).and_then(|p| piece.get(p)) {
            None => true,
            Some(&b) if b < 0x80 => e & LEFT_ASCII != 0,
            Some(_) => e & LEFT_WIDE != 0,
        };
        let right_ok = match piece.get(i + w) {
            None => true,
            Some(&b) if b < 0x80 => e & RIGHT_ASCII != 0,
            Some(_) => e & RIGHT_WIDE != 0,
        };
        (left_ok && right_ok && e & WHOLE != 0).then_some(i + w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(tokens: &[&[u8]]) -> AHashMap<Vec<u8>, u32> {
        let mut ranks: AHashMap<Vec<u8>, u32> =
            (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
        for (i, t) in tokens.iter().enumerate() {
            ranks.insert(t.to_vec(), 256 + i as u32);
        }
        ranks
    }

    fn parts(chars: &Chars, s: &str) -> Vec<usize> {
        let mut out = Vec::new();
        chars.starts(s.as_bytes(), &mut out);
        out
    }

    #[test]
    fn a_char_that_is_a_token_merges_whole() {
        let d = "д".as_bytes(); // D0 B4
        let chars = Chars::new(&vocab(&[d]));
        assert_eq!(chars.safe(), 1);
        assert_eq!(parts(&chars, "дaд"), vec![0, 2, 3, 5]);
        // not a token: bytes
        assert_eq!(parts(&chars, "ж"), vec![0, 1, 2]);
    }

    #[test]
    fn a_token_reaching_into_the_char_keeps_it_in_bytes_next_to_that_neighbour() {
        let d = "д".as_bytes();
        // " \xD0" ranks below "д": after a space, д stays bytes
        let chars = Chars::new(&vocab(&[b" \xD0", d]));
        assert_eq!(parts(&chars, " д"), vec![0, 1, 2, 3]);
        assert_eq!(parts(&chars, "дд"), vec![0, 2, 4]);
        // ranked above it, the space cannot reach in before д is whole
        let chars = Chars::new(&vocab(&[d, b" \xD0"]));
        assert_eq!(parts(&chars, " д"), vec![0, 1, 3]);
    }

    #[test]
    fn a_token_with_the_whole_char_must_rank_above_its_merges() {
        let d = "д".as_bytes();
        let chars = Chars::new(&vocab(&["дa".as_bytes(), d]));
        assert_eq!(parts(&chars, "дa"), vec![0, 1, 2, 3]);
        assert_eq!(parts(&chars, "aд"), vec![0, 1, 3]);
    }

    #[test]
    fn a_char_that_bpe_does_not_reach_stays_bytes() {
        // "中" = E4 B8 AD is a token, but no pair inside it is
        let chars = Chars::new(&vocab(&["中".as_bytes()]));
        assert_eq!(chars.safe(), 0);
        let chars = Chars::new(&vocab(&[b"\xE4\xB8", "中".as_bytes()]));
        assert_eq!(chars.safe(), 1);
        assert_eq!(parts(&chars, "中中"), vec![0, 3, 6]);
    }
}
