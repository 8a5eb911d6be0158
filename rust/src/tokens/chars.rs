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
//! (no pair across its edges is ever the lowest: such a pair is a token of
//! condition 2, ranked above every merge still pending inside `c`), and its
//! next merge ranks at most `M`; so no pair across its edges, or with it
//! whole, is the lowest before `c` is whole, and every other merge happens
//! in the same order as with `c` whole from the start. The same holds for
//! several such chars at once, each argued on its own.
//!
//! A token can only form where its bytes are in the piece, so condition 2
//! is checked per kind of neighbour the char has in the piece: none (the
//! piece's edge: nothing to check), an ASCII byte, or a wide char, on each
//! side; a bit per side and kind, computed when the vocabulary loads (one
//! pass over the tokens, ~10–30 ms). Two refinements keep common chars whole:
//! - tokens that reach into a char from a whole neighbour char ("о\xD0" in
//!   Llama 3, "\xA0除") are few and name that neighbour: the neighbours they
//!   name are flagged (`RISKY`, `RISKY_NEXT`), and only next to a flagged
//!   char does a char need the strict bit (`LEFT_RISKY`, `RIGHT_RISKY`);
//! - a space and the first char of a word piece (" слово"), when " c" is a
//!   token, are one part under the same two conditions for the pair
//!   (Llama 3's " \xD0" keeps a Cyrillic char after a space in bytes).
//!
//! The table is 16 bits per char of the Basic Multilingual Plane (128 KB);
//! chars beyond it (emoji) stay bytes. `chars::shipped` and
//! `tests::whole_chars` compare the result with plain byte-level BPE.

use ahash::AHashMap;

/// The bits of a table entry: which neighbours leave the char safe to
/// merge whole (on each side: ASCII, or a wide char).
const LEFT_ASCII: u16 = 1;
const LEFT_WIDE: u16 = 1 << 1;
const RIGHT_ASCII: u16 = 1 << 2;
const RIGHT_WIDE: u16 = 1 << 3;
/// Set for every char that is a token BPE reaches from its bytes.
const WHOLE: u16 = 1 << 4;
/// Safe after any wide char, even one that ends some token reaching in
/// (`LEFT_WIDE` alone: after a wide char that ends none).
const LEFT_RISKY: u16 = 1 << 5;
/// This char ends the outside bytes of some token reaching into the next
/// char (Llama 3's "о\xD0"): the char after it needs `LEFT_RISKY`.
const RISKY: u16 = 1 << 6;
/// A space and this char, first in a piece (" слово"), are one token that
/// merges whole before an ASCII byte, or before a wide char.
const SPACE_ASCII: u16 = 1 << 7;
const SPACE_WIDE: u16 = 1 << 8;
/// The same as `LEFT_RISKY` and `RISKY` on the right: safe before any wide
/// char; this char starts the outside bytes of a token reaching into the
/// char before it (Llama 3's "\xA0除").
const RIGHT_RISKY: u16 = 1 << 9;
const RISKY_NEXT: u16 = 1 << 10;
/// Safe next to every kind of neighbour, on both sides.
const ANYWHERE: u16 =
    WHOLE | LEFT_ASCII | LEFT_WIDE | LEFT_RISKY | RIGHT_ASCII | RIGHT_WIDE | RIGHT_RISKY;
/// Chars in the Basic Multilingual Plane: 2 or 3 UTF-8 bytes (and ASCII).
const PLANE: usize = 1 << 16;

pub struct Chars {
    /// By codepoint: neighbour bits and `WHOLE` (the low 16 bits), the
    /// char's rank (`RANK`) and that of a space and the char (`SPACED`);
    /// 0 when the char is no token or BPE does not reach it from its bytes.
    table: Box<[u64]>,
}

/// Where an entry keeps the char's rank, and the rank of a space and the
/// char (24 bits each; a larger rank is not kept, and `Merges` is off then).
const RANK: u32 = 16;
const SPACED: u32 = 40;
const RANK_MASK: u64 = (1 << 24) - 1;

/// One first part of a piece.
#[derive(Clone, Copy)]
pub enum Part {
    Byte,
    /// A whole char, with its table entry.
    Char(u64),
    /// A space and a whole char, with the char's entry.
    Spaced(u64),
}

impl Part {
    /// The part's rank, from the entry (a byte's from `bytes`).
    #[inline]
    fn rank(self, byte: u8, bytes: &[u32; 256]) -> u32 {
        match self {
            Part::Byte => bytes[usize::from(byte)],
            Part::Char(e) => (e >> RANK & RANK_MASK) as u32,
            Part::Spaced(e) => (e >> SPACED & RANK_MASK) as u32,
        }
    }
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
    /// The same when X ends with a whole 2- or 3-byte char: few tokens,
    /// which then matter only after the chars they end with (`risky`).
    left_after_char: AHashMap<u32, u32>,
    risky: Vec<u32>,
    /// `B[j..]·Y` when Y starts with a whole 2- or 3-byte char.
    right_before_char: AHashMap<u32, u32>,
    risky_next: Vec<u32>,
    /// `B[j..]·Y`: by `B[j..]` and Y's first byte.
    right: [AHashMap<u32, u32>; 2],
    /// Tokens with the whole char and more, by codepoint: left when there
    /// are bytes before it (by the last of them), else right (by the next).
    whole_left: [AHashMap<u32, u32>; 2],
    whole_right: [AHashMap<u32, u32>; 2],
    /// Tokens that start with a space and the whole char, then more.
    space_right: [AHashMap<u32, u32>; 2],
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
                match last_char(&t[..i]) {
                    Some(c) => {
                        self.risky.push(c);
                        lower(&mut self.left_after_char, key(&t[i..]), rank);
                    }
                    None => lower(&mut self.left[class(t[i - 1])], key(&t[i..]), rank),
                }
            }
        }
        // the tail of a char at the start, then other bytes
        let m = t.iter().take_while(|&&b| continuation(b)).count();
        if m > 0 && m < n && m <= 3 {
            match first_char(&t[m..]) {
                Some(c) => {
                    self.risky_next.push(c);
                    lower(&mut self.right_before_char, key(&t[..m]), rank);
                }
                None => lower(&mut self.right[class(t[m])], key(&t[..m]), rank),
            }
        }
        // whole chars with other bytes around them
        if n < 3 {
            return;
        }
        let w = wide_len(t[1]);
        if t[0] == b' ' && (2..=3).contains(&w) && n > 1 + w {
            if let Some(c) = decode(&t[1..1 + w]) {
                lower(&mut self.space_right[class(t[1 + w])], c, rank);
            }
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
    fn safe_bits(&self, bytes: &[u8], c: u32, highest: u32) -> u16 {
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
        if bits & LEFT_WIDE != 0 && (1..k).all(|j| above(&self.left_after_char, key(&bytes[..j]))) {
            bits |= LEFT_RISKY;
        }
        for (cls, bit) in [(0, RIGHT_ASCII), (1, RIGHT_WIDE)] {
            if (1..k).all(|j| above(&self.right[cls], key(&bytes[j..])))
                && above(&self.whole_right[cls], c)
            {
                bits |= bit;
            }
        }
        if bits & RIGHT_WIDE != 0
            && (1..k).all(|j| above(&self.right_before_char, key(&bytes[j..])))
        {
            bits |= RIGHT_RISKY;
        }
        bits
    }

    /// The bits for a space and `bytes` (one char), as one part first in a
    /// piece, whose merges rank at most `highest`: every token that starts
    /// inside them and goes on ranks above.
    fn space_bits(&self, bytes: &[u8], c: u32, highest: u32) -> u16 {
        let above = |map: &AHashMap<u32, u32>, k: u32| map.get(&k).map_or(true, |&r| r > highest);
        let mut bits = 0;
        for (cls, bit) in [(0, SPACE_ASCII), (1, SPACE_WIDE)] {
            if (1..bytes.len()).all(|j| {
                above(&self.right[cls], key(&bytes[j..]))
                    && (cls == 0 || above(&self.right_before_char, key(&bytes[j..])))
            }) && above(&self.whole_right[cls], c)
                && above(&self.space_right[cls], c)
            {
                bits |= bit;
            }
        }
        bits
    }
}

/// The codepoint of the 2- or 3-byte char `bytes` ends with.
fn last_char(bytes: &[u8]) -> Option<u32> {
    let n = bytes.len();
    let s = bytes.iter().rposition(|&b| !continuation(b))?;
    let w = wide_len(bytes[s]);
    if (2..=3).contains(&w) && s + w == n {
        decode(&bytes[s..])
    } else {
        None
    }
}

/// The codepoint of the 2- or 3-byte char `bytes` starts with.
fn first_char(bytes: &[u8]) -> Option<u32> {
    let w = wide_len(*bytes.first()?);
    if (2..=3).contains(&w) {
        decode(bytes.get(..w)?)
    } else {
        None
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
    // part i is bytes[bounds[i]..bounds[i + 1]]
    let mut bounds: Vec<usize> = (0..=bytes.len()).collect();
    let mut highest = 0;
    while bounds.len() > 2 {
        let (r, i) = bounds
            .windows(3)
            .enumerate()
            .filter_map(|(i, w)| ranks.get(&bytes[w[0]..w[2]]).map(|&r| (r, i)))
            .min()?;
        highest = highest.max(r);
        bounds.remove(i + 1);
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
            if (2..=3).contains(&t.len()) && wide_len(t[0]) == t.len() {
                if let Some(c) = decode(t) {
                    singles.push((t.as_slice(), c, rank));
                }
            }
        }
        let fits = |rank: u32| u64::from(rank) & !RANK_MASK == 0;
        let mut table = vec![0u64; PLANE].into_boxed_slice();
        let mut spaced = Vec::with_capacity(4);
        for (t, c, rank) in singles {
            let Some(highest) = merges_whole(t, ranks) else {
                continue;
            };
            let mut bits = u64::from(crossing.safe_bits(t, c, highest) | WHOLE);
            if fits(rank) {
                bits |= u64::from(rank) << RANK;
            }
            spaced.clear();
            spaced.push(b' ');
            spaced.extend_from_slice(t);
            if let Some(&rank) = ranks.get(&spaced) {
                if let Some(highest) = merges_whole(&spaced, ranks) {
                    bits |= u64::from(crossing.space_bits(t, c, highest));
                    if fits(rank) {
                        bits |= u64::from(rank) << SPACED;
                    }
                }
            }
            if let Some(e) = table.get_mut(c as usize) {
                *e |= bits;
            }
        }
        for (chars, bit) in [(&crossing.risky, RISKY), (&crossing.risky_next, RISKY_NEXT)] {
            for &c in chars {
                if let Some(e) = table.get_mut(c as usize) {
                    *e |= u64::from(bit);
                }
            }
        }
        Chars { table }
    }

    /// Chars that merge whole next to some kind of neighbour (all, when
    /// the piece is only them).
    #[cfg(test)]
    pub fn safe(&self) -> usize {
        let sides = LEFT_ASCII | LEFT_WIDE | RIGHT_ASCII | RIGHT_WIDE;
        self.table
            .iter()
            .filter(|&&e| e as u16 & sides != 0)
            .count()
    }

    /// Every char with an entry, and the entry.
    #[cfg(test)]
    fn entries(&self) -> Vec<(char, u16)> {
        (0u32..)
            .zip(self.table.iter())
            .filter(|&(_, &e)| e as u16 != 0)
            .filter_map(|(c, &e)| char::from_u32(c).map(|c| (c, e as u16)))
            .collect()
    }

    /// The first parts of `piece`: where each starts, then its end. A char
    /// the table allows between these neighbours is one part; every other
    /// byte is a part of its own.
    pub fn starts(&self, piece: &[u8], out: &mut Vec<usize>) {
        out.clear();
        self.walk(piece, |at, _| out.push(at));
        out.push(piece.len());
    }

    /// The rank of each of the same parts (`bytes`: the rank of each byte).
    pub fn ranks(&self, piece: &[u8], bytes: &[u32; 256], out: &mut Vec<u32>) {
        out.clear();
        self.walk(piece, |at, part| out.push(part.rank(piece[at], bytes)));
    }

    /// Calls `f` with where each first part of `piece` starts, and what it is.
    #[inline(always)]
    fn walk(&self, piece: &[u8], mut f: impl FnMut(usize, Part)) {
        let n = piece.len();
        if self.table.is_empty() || piece.is_ascii() {
            (0..n).for_each(|i| f(i, Part::Byte));
            return;
        }
        // the table entry of the char before (0: ASCII or no char)
        let mut before = 0u16;
        let mut i = 0;
        if piece[0] == b' ' && n > 2 {
            let w = wide_len(piece[1]);
            if (w == 2 || w == 3) && w < n {
                let full = self.entry_full(&piece[1..1 + w]);
                let e = full as u16;
                let need = match piece.get(1 + w) {
                    None => SPACE_ASCII | SPACE_WIDE,
                    Some(&b) if b < 0x80 => SPACE_ASCII,
                    Some(_) => SPACE_WIDE,
                };
                if e & need != 0 {
                    f(0, Part::Spaced(full));
                    before = e;
                    i = 1 + w;
                }
            }
        }
        while i < n {
            let w = wide_len(piece[i]);
            if w < 2 || i + w > n {
                f(i, Part::Byte);
                before = 0;
                i += 1;
                continue;
            }
            let full = if w == 3 || w == 2 {
                self.entry_full(&piece[i..i + w])
            } else {
                0
            };
            let e = full as u16;
            // most Cyrillic and CJK chars are safe next to anything: no need
            // to look at the neighbours (nor read the next char's entry)
            if e & ANYWHERE == ANYWHERE {
                f(i, Part::Char(full));
                before = e;
                i += w;
                continue;
            }
            let left = match i.checked_sub(1).and_then(|p| piece.get(p)) {
                None => WHOLE,
                Some(&b) if b < 0x80 => LEFT_ASCII,
                Some(_) if before & RISKY != 0 => LEFT_RISKY,
                Some(_) => LEFT_WIDE,
            };
            let right = match piece.get(i + w) {
                None => WHOLE,
                Some(&b) if b < 0x80 => RIGHT_ASCII,
                // safe before any wide char: no need for the next one's entry
                Some(_) if e & RIGHT_RISKY != 0 => RIGHT_RISKY,
                Some(&b) => {
                    let after = wide_len(b);
                    match piece.get(i + w..i + w + after) {
                        Some(next) if self.entry(next) & RISKY_NEXT == 0 => RIGHT_WIDE,
                        _ => RIGHT_RISKY,
                    }
                }
            };
            let need = WHOLE | left | right;
            if e & need == need {
                f(i, Part::Char(full));
            } else {
                (i..i + w).for_each(|j| f(j, Part::Byte));
            }
            before = e;
            i += w;
        }
    }

    /// The neighbour bits of one 2- or 3-byte char.
    #[inline]
    fn entry(&self, bytes: &[u8]) -> u16 {
        self.entry_full(bytes) as u16
    }

    /// The whole table entry of one 2- or 3-byte char.
    #[inline]
    fn entry_full(&self, bytes: &[u8]) -> u64 {
        let c = match *bytes {
            [a, b] => u32::from(a & 0x1F) << 6 | u32::from(b & 0x3F),
            [a, b, c] => u32::from(a & 0x0F) << 12 | u32::from(b & 0x3F) << 6 | u32::from(c & 0x3F),
            _ => return 0,
        };
        self.table.get(c as usize).copied().unwrap_or(0)
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

/// The neighbours the table tells apart, on the shipped vocabularies: each
/// char next to each kind of neighbour where its bits differ, against plain
/// byte-level BPE (random text rarely meets these pairs).
#[cfg(test)]
mod shipped {
    use super::*;
    use crate::tokens::{load, Source, Vocab};

    fn pair(inner: &str, source: Source) -> (Vocab, Vocab) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("python/provocapi/vocab")
            .join(inner);
        let fast = load(source, &path).unwrap();
        let mut plain = load(source, &path).unwrap();
        if let Vocab::Bpe(b) = &mut plain {
            b.bytes_only();
        }
        (fast, plain)
    }

    fn texts(chars: &Chars) -> Vec<String> {
        let all = chars.entries();
        let with = |bit: u16| {
            all.iter()
                .filter(move |(_, e)| e & bit != 0)
                .map(|&(c, _)| c)
        };
        let mut out = Vec::new();
        // after a risky char: the chars that need LEFT_RISKY there
        let tight_left: Vec<char> = all
            .iter()
            .filter(|(_, e)| e & LEFT_WIDE != 0 && e & LEFT_RISKY == 0)
            .map(|&(c, _)| c)
            .collect();
        for p in with(RISKY) {
            out.extend(tight_left.iter().map(|d| format!("{p}{d}")));
        }
        let tight_right: Vec<char> = all
            .iter()
            .filter(|(_, e)| e & RIGHT_WIDE != 0 && e & RIGHT_RISKY == 0)
            .map(|&(c, _)| c)
            .collect();
        for n in with(RISKY_NEXT) {
            out.extend(tight_right.iter().map(|d| format!("{d}{n}")));
        }
        // a space first, then the char, then ASCII or a wide char
        for (d, _) in &all {
            out.push(format!(" {d}a"));
            out.push(format!(" {d}{d}"));
        }
        out
    }

    #[test]
    fn every_distinction_of_the_table_gives_the_byte_level_ids() {
        for (inner, source) in [
            ("llama3/tokenizer.json", Source::HfJson),
            ("qwen2.5/qwen.tiktoken", Source::QwenTiktoken),
            ("tekken/tekken_240911.json", Source::Tekken),
        ] {
            let (fast, plain) = pair(inner, source);
            let Vocab::Bpe(b) = &fast else {
                panic!("{inner} is run by our BPE")
            };
            let texts = texts(b.chars());
            assert!(texts.len() > 1000, "{inner}: {}", texts.len());
            for t in &texts {
                assert_eq!(fast.encode(t), plain.encode(t), "{inner}: {t:?}");
            }
        }
    }
}
