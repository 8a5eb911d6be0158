//! Byte-level BPE over tiktoken-style ranks: split the text with the
//! vocabulary's regex, then merge each piece's bytes, lowest rank first
//! (leftmost on ties), as tiktoken does. Chars the vocabulary proves safe
//! start as one part instead of their bytes (`chars`), and pieces past
//! ASCII merge by the ids of their parts (`merges`), not by their bytes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::ControlFlow;
use std::sync::Mutex;

use ahash::AHashMap;
use unicode_normalization::UnicodeNormalization;

use super::chars::Chars;
use super::merges::{Merges, NO_PAIR};
use super::ranks::Ranks;
use super::split::Splitter;

pub struct BytePairEncoder {
    ranks: Ranks,
    /// Merges by the ids of the two parts (none when the vocabulary's ranks
    /// cannot name parts, or some byte has no rank): then by bytes.
    merges: Option<Merges>,
    /// The rank of each single byte (with `merges`).
    byte_ranks: [u32; 256],
    /// Chars that start a merge whole: fewer lookups for CJK and Cyrillic.
    chars: Chars,
    splitter: Splitter,
    /// Added tokens recognised in text (Qwen's `<|im_start|>`, `<tool_call>`...),
    /// longest first so a prefix never wins over the whole token.
    specials: Vec<(String, u32)>,
    /// The bytes that some special starts with.
    special_first: [bool; 256],
    /// The same, when there are at most three of them (`<` for Llama 3 and
    /// Qwen, `<` and `[` for Tekken): the text is scanned for them a chunk at
    /// a time (a byte at a time was ~7% of counting Cyrillic with Llama 3).
    first_bytes: Option<[u8; 3]>,
    /// Specials, and tokens that only chat templates place (Tekken's control
    /// tokens), by their text: a chat's template segments ask for each, and
    /// Llama 3 has 256 specials (a special wins over a control of the same text).
    by_text: AHashMap<String, u32>,
    /// Added to every rank (Tekken numbers its vocabulary after the specials).
    offset: u32,
    /// One past the largest id any token has (ranks, specials, controls).
    id_end: u32,
    nfc: bool,
    /// Every single byte has a rank, so a piece's token count is its number
    /// of merged parts (no id lookups when only counting).
    all_bytes: bool,
    /// Token counts of pieces that merge into several tokens, by a hash of the
    /// piece: words recur across prompts that are otherwise all different.
    words: Mutex<AHashMap<u64, u32>>,
    /// Entries kept in `words` before it starts over; 0 when
    /// `PROVOCAPI_TOKEN_CACHE=0` turns caching off (to measure cold counting).
    word_capacity: usize,
}

/// Pieces longer than this merge with a heap: the simple scan is quadratic.
const SHORT_PIECE: usize = 128;
/// Pieces longer than this (a 16 MB "word", a megabyte of spaces) merge in
/// chunks of about this size, cut at char boundaries: the heap's memory stays
/// bounded, and a bounded count can stop after any chunk. No reference
/// tokenizer agrees on such pieces anyway (tiktoken's scan is quadratic
/// there); below it the ids are the reference's.
pub const LONG_PIECE: usize = 64 * 1024;
/// Pieces remembered in the word cache before it starts over (~1 MB).
const WORD_CACHE: usize = 1 << 16;
/// Texts longer than this count with a word cache of their own: the shared
/// one stays free for the small prompts counted meanwhile on other threads.
const PRIVATE_WORDS_ABOVE: usize = 64 * 1024;

/// The merge state of one piece, reused from piece to piece.
#[derive(Default)]
struct Parts {
    /// Where each part starts, then the piece's end.
    starts: Vec<usize>,
    /// The rank of each part with the next (one fewer than the parts).
    ranks: Vec<u32>,
    /// The rank (id) of each part, when merging by ids.
    ids: Vec<u32>,
}

/// Where encoded pieces go: ids, or only their number (counting stops once
/// it is past `limit`).
enum Sink<'a> {
    Ids(&'a mut Vec<u32>),
    Count { n: usize, limit: usize },
}

impl Sink<'_> {
    fn push(&mut self, id: u32) {
        match self {
            Sink::Ids(out) => out.push(id),
            Sink::Count { n, .. } => *n += 1,
        }
    }

    /// A bounded count that went past its limit: nothing more to do.
    fn full(&self) -> bool {
        matches!(self, Sink::Count { n, limit } if n > limit)
    }
}

impl BytePairEncoder {
    pub fn new(
        ranks: AHashMap<Vec<u8>, u32>,
        splitter: Splitter,
        mut specials: Vec<(String, u32)>,
        controls: HashMap<String, u32>,
        offset: u32,
        nfc: bool,
    ) -> Self {
        specials.retain(|s| !s.0.is_empty());
        specials.sort_by_key(|s| Reverse(s.0.len()));
        let mut special_first = [false; 256];
        for (t, _) in &specials {
            if let Some(&b) = t.as_bytes().first() {
                special_first[usize::from(b)] = true;
            }
        }
        let firsts: Vec<u8> = (0u8..=255)
            .filter(|&b| special_first[usize::from(b)])
            .collect();
        let first_bytes = match firsts[..] {
            [a] => Some([a; 3]),
            [a, b] => Some([a, b, b]),
            [a, b, c] => Some([a, b, c]),
            _ => None,
        };
        let all_bytes = (0u8..=255).all(|b| ranks.contains_key(&[b][..]));
        let chars = Chars::new(&ranks);
        let mut by_text: AHashMap<String, u32> = controls.into_iter().collect();
        // in reverse, so that the first of two specials with one text wins, as a scan would
        for (text, id) in specials.iter().rev() {
            by_text.insert(text.clone(), *id);
        }
        let mut byte_ranks = [NO_PAIR; 256];
        for (b, r) in (0u8..=255).zip(byte_ranks.iter_mut()) {
            if let Some(&rank) = ranks.get(&[b][..]) {
                *r = rank;
            }
        }
        let merges = Merges::new(&ranks);
        let top_rank = ranks.values().max().map(|&r| r.saturating_add(offset));
        let top_named = by_text.values().max().copied();
        let id_end = top_rank.max(top_named).map_or(0, |id| id.saturating_add(1));
        BytePairEncoder {
            ranks: Ranks::new(ranks),
            merges,
            byte_ranks,
            chars,
            splitter,
            specials,
            special_first,
            first_bytes,
            by_text,
            offset,
            id_end,
            nfc,
            all_bytes,
            words: Mutex::new(AHashMap::new()),
            word_capacity: if super::cache::cache_capacity() == 0 {
                0
            } else {
                WORD_CACHE
            },
        }
    }

    /// One past the largest token id: an id from `0` to this (exclusive) names a
    /// token of this vocabulary.
    pub fn id_end(&self) -> u32 {
        self.id_end
    }

    /// The id of a special or control token, by its text.
    pub fn special_id(&self, token: &str) -> Option<u32> {
        self.by_text.get(token).copied()
    }

    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        self.run(text, &mut Sink::Ids(out));
    }

    /// The number of tokens `encode` gives, without building the ids.
    pub fn count(&self, text: &str) -> usize {
        self.count_up_to(text, usize::MAX)
    }

    /// The count when it is at most `limit`; past it, counting stops and the
    /// result is some number above `limit` (no more than the count).
    pub fn count_up_to(&self, text: &str, limit: usize) -> usize {
        let mut sink = Sink::Count { n: 0, limit };
        self.run(text, &mut sink);
        match sink {
            Sink::Count { n, .. } => n,
            Sink::Ids(_) => 0,
        }
    }

    fn run(&self, text: &str, sink: &mut Sink<'_>) {
        let text: std::borrow::Cow<'_, str> = if self.nfc && !super::nfc::is_nfc(text) {
            text.nfc().collect::<String>().into()
        } else {
            text.into()
        };
        // The word cache is only for counting, and only when free: a thread that
        // would wait for it counts without it. A large text brings its own.
        let counting = matches!(sink, Sink::Count { .. }) && self.all_bytes;
        let large = text.len() > PRIVATE_WORDS_ABOVE;
        let mut shared = if counting && !large && self.word_capacity > 0 {
            self.words.try_lock().ok()
        } else {
            None
        };
        let mut private = AHashMap::new();
        let mut words = if counting && large && self.word_capacity > 0 {
            Some(&mut private)
        } else {
            shared.as_deref_mut()
        };
        let mut scratch = Parts::default();
        let mut rest: &str = &text;
        while !rest.is_empty() && !sink.full() {
            match self.next_special(rest) {
                Some((at, token, id)) => {
                    self.encode_ordinary(&rest[..at], sink, &mut scratch, words.as_deref_mut());
                    sink.push(id);
                    rest = &rest[at + token.len()..];
                }
                None => {
                    self.encode_ordinary(rest, sink, &mut scratch, words.as_deref_mut());
                    break;
                }
            }
        }
    }

    /// The first added token in `text` (the longest where several start at
    /// the same byte): one pass over the bytes, checking the specials only
    /// where one of their first bytes appears (Llama 3 has 256 of them).
    fn next_special<'a>(&'a self, text: &str) -> Option<(usize, &'a str, u32)> {
        if self.specials.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(at) = self.next_first(bytes, from) {
            let rest = bytes.get(at..).unwrap_or_default();
            // longest first, so the first that matches is the longest
            if let Some((token, id)) = self
                .specials
                .iter()
                .find(|(t, _)| rest.starts_with(t.as_bytes()))
            {
                return Some((at, token, *id));
            }
            from = at + 1;
        }
        None
    }

    /// The first byte from `from` on that some special starts with.
    #[inline]
    fn next_first(&self, bytes: &[u8], from: usize) -> Option<usize> {
        let rest = bytes.get(from..)?;
        match self.first_bytes {
            Some(set) => find_any(rest, set),
            None => rest
                .iter()
                .position(|&b| self.special_first[usize::from(b)]),
        }
        .map(|i| from + i)
    }

    fn encode_ordinary(
        &self,
        text: &str,
        sink: &mut Sink<'_>,
        scratch: &mut Parts,
        mut words: Option<&mut AHashMap<u64, u32>>,
    ) {
        self.splitter.try_for_each(text, |piece| {
            self.merge(piece.as_bytes(), sink, scratch, words.as_deref_mut());
            if sink.full() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }

    fn merge(
        &self,
        piece: &[u8],
        sink: &mut Sink<'_>,
        scratch: &mut Parts,
        words: Option<&mut AHashMap<u64, u32>>,
    ) {
        if piece.is_empty() {
            return;
        }
        if let Some(r) = self.rank(piece) {
            sink.push(r + self.offset);
            return;
        }
        if piece.len() > LONG_PIECE {
            let mut at = 0;
            while at < piece.len() && !sink.full() {
                let end = chunk_end(piece, at);
                self.emit(&piece[at..end], &self.merge_long(&piece[at..end]), sink);
                at = end;
            }
            return;
        }
        match sink {
            Sink::Count { n, .. } if self.all_bytes => {
                let key = words.as_ref().map(|_| super::cache::hash(piece));
                if let (Some(w), Some(k)) = (words.as_ref(), key) {
                    if let Some(&c) = w.get(&k) {
                        *n += c as usize;
                        return;
                    }
                }
                // ASCII pieces merge by bytes: their first pairs come from the
                // flat byte-pair table, the rest from the ASCII-only table,
                // both smaller than `merges` (English was ~5% slower by ids)
                let c = if piece.len() > SHORT_PIECE {
                    self.merge_long(piece).len() - 1
                } else if let Some(m) = self.merges.as_ref().filter(|_| !piece.is_ascii()) {
                    self.merge_ids(m, piece, scratch);
                    scratch.ids.len()
                } else {
                    self.merge_short(piece, scratch);
                    scratch.starts.len() - 1
                };
                *n += c;
                if let (Some(w), Some(k)) = (words, key) {
                    if w.len() >= self.word_capacity {
                        w.clear();
                    }
                    w.insert(k, u32::try_from(c).unwrap_or(u32::MAX));
                }
            }
            _ => match &self.merges {
                Some(m) if piece.len() <= SHORT_PIECE && !piece.is_ascii() => {
                    self.merge_ids(m, piece, scratch);
                    for &id in &scratch.ids {
                        sink.push(id + self.offset);
                    }
                }
                _ => {
                    let bounds: Vec<usize> = if piece.len() <= SHORT_PIECE {
                        self.merge_short(piece, scratch);
                        std::mem::take(&mut scratch.starts)
                    } else {
                        self.merge_long(piece)
                    };
                    self.emit(piece, &bounds, sink);
                }
            },
        }
    }

    /// The tokens `piece[bounds[i]..bounds[i + 1]]`.
    fn emit(&self, piece: &[u8], bounds: &[usize], sink: &mut Sink<'_>) {
        for w in bounds.windows(2) {
            // Every single byte has a rank in a byte-level vocabulary; a file
            // without one yields no id for that byte rather than a panic.
            if let Some(r) = self.rank(&piece[w[0]..w[1]]) {
                sink.push(r + self.offset);
            }
        }
    }

    /// Without whole chars, merging by bytes: plain byte-level BPE as
    /// tiktoken runs it, to compare with.
    #[cfg(test)]
    pub(crate) fn bytes_only(&mut self) {
        self.chars = Chars::none();
        self.merges = None;
    }

    /// Whether pieces merge by part ids (`merges`).
    #[cfg(test)]
    pub(crate) fn merges_by_ids(&self) -> bool {
        self.merges.is_some()
    }

    #[cfg(test)]
    pub(crate) fn chars(&self) -> &Chars {
        &self.chars
    }

    /// How many chars the vocabulary lets merge whole.
    #[cfg(test)]
    pub(crate) fn whole_chars(&self) -> usize {
        self.chars.safe()
    }

    #[cfg(test)]
    pub(crate) fn merge_with_scan(&self, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(r) = self.rank(piece) {
            out.push(r + self.offset);
            return;
        }
        let mut parts = Parts::default();
        self.merge_short(piece, &mut parts);
        for w in parts.starts.windows(2) {
            if let Some(r) = self.rank(&piece[w[0]..w[1]]) {
                out.push(r + self.offset);
            }
        }
    }

    pub fn splits_by_hand(&self) -> bool {
        self.splitter.is_hand_written()
    }

    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        self.ranks.get(bytes)
    }

    /// tiktoken's scan: the final tokens are `piece[starts[i]..starts[i + 1]]`.
    /// Each merge looks up only the two pairs it changed; the ranks sit in an
    /// array of their own, so finding the lowest is a vectorised scan.
    /// The piece is no token (the caller looked it up): a pair that spans
    /// all of it needs no lookup, and two-token pieces end one sooner.
    /// Out of line, as `merge_long`: `merge`'s one-token path stays small.
    #[inline(never)]
    fn merge_short(&self, piece: &[u8], parts: &mut Parts) {
        let Parts { starts, ranks, .. } = parts;
        starts.clear();
        ranks.clear();
        self.chars.starts(piece, starts);
        let n = piece.len();
        ranks.extend(starts.windows(3).map(|w| {
            if w[0] == 0 && w[2] == n {
                NO_PAIR
            } else {
                self.first_pair(piece, w[0], w[2])
            }
        }));
        // ranks[i]: the pair of parts i and i + 1; starts has one more entry
        // (the end) than there are parts
        let pair = |starts: &[usize], i: usize| -> u32 {
            match (starts.get(i), starts.get(i + 3)) {
                (Some(&0), Some(&b)) if b == n => NO_PAIR,
                (Some(&a), Some(&b)) => self.rank(&piece[a..b]).unwrap_or(NO_PAIR),
                _ => NO_PAIR,
            }
        };
        loop {
            let Some((i, low)) = lowest(ranks) else {
                return;
            };
            if low == NO_PAIR {
                return;
            }
            if i > 0 {
                ranks[i - 1] = pair(starts, i - 1);
            }
            ranks[i] = pair(starts, i);
            starts.remove(i + 1);
            if i + 1 < ranks.len() {
                ranks.remove(i + 1);
            } else {
                ranks.pop();
            }
        }
    }

    /// The same merges, parts named by their ids: each pair's rank is one
    /// probe into `merges` (no bytes to hash); the ids are the tokens. The
    /// piece is no token (the caller looked it up), and `merges` has no
    /// entry for it: no pair spans it.
    #[inline(never)]
    fn merge_ids(&self, merges: &Merges, piece: &[u8], parts: &mut Parts) {
        let Parts { ranks, ids, .. } = parts;
        self.chars.ranks(piece, &self.byte_ranks, ids);
        ranks.clear();
        ranks.extend(ids.windows(2).map(|w| merges.get(w[0], w[1])));
        merges.merge(ids, ranks);
    }

    /// The rank of `piece[a..b]` for the first pairs: two bytes from the flat table.
    #[inline]
    fn first_pair(&self, piece: &[u8], a: usize, b: usize) -> u32 {
        if b == a + 2 {
            self.ranks.pair(piece[a], piece[a + 1])
        } else {
            self.rank(&piece[a..b])
        }
        .unwrap_or(NO_PAIR)
    }

    /// The same merges with a heap and linked parts: O(n log n) for long pieces.
    #[inline(never)]
    fn merge_long(&self, piece: &[u8]) -> Vec<usize> {
        // part k spans start[k]..start[next[k]]; start has the piece's end
        // last, so next == m means the end.
        let mut start = Vec::new();
        self.chars.starts(piece, &mut start);
        let m = start.len() - 1;
        let mut next: Vec<usize> = (1..=m).collect();
        let mut prev: Vec<usize> = (0..m).map(|k| k.wrapping_sub(1)).collect();
        let mut alive = vec![true; m];
        let mut heap = BinaryHeap::new();
        for (k, w) in start.windows(3).enumerate() {
            let r = self.first_pair(piece, w[0], w[2]);
            if r != NO_PAIR {
                heap.push(Reverse((r, k, w[2])));
            }
        }
        while let Some(Reverse((_, k, end))) = heap.pop() {
            if !alive[k] || next[k] >= m {
                continue;
            }
            let j = next[k];
            // the pair k, j still spans what was ranked (so has that rank),
            // or one side merged since and this entry is stale
            if start[next[j]] != end {
                continue;
            }
            alive[j] = false;
            next[k] = next[j];
            if next[k] < m {
                prev[next[k]] = k;
                let after = start[next[next[k]]];
                if let Some(r2) = self.rank(&piece[start[k]..after]) {
                    heap.push(Reverse((r2, k, after)));
                }
            }
            let p = prev[k];
            if p < m && alive[p] {
                if let Some(r2) = self.rank(&piece[start[p]..end]) {
                    heap.push(Reverse((r2, p, end)));
                }
            }
        }
        let mut bounds = Vec::new();
        let mut k = 0;
        while k < m {
            bounds.push(start[k]);
            k = next[k];
        }
        bounds.push(piece.len());
        bounds
    }
}

/// The leftmost lowest rank and where it is. Past a few parts (CJK runs
/// are pieces of dozens of chars), folds without early exits, in blocks,
/// so the compiler vectorises them (a min over `&u32` does not).
#[inline]
pub(super) fn lowest(ranks: &[u32]) -> Option<(usize, u32)> {
    const BLOCK: usize = 16;
    if ranks.len() <= BLOCK {
        // one pass: `min_by_key` keeps the first of equal keys
        return ranks
            .iter()
            .enumerate()
            .min_by_key(|&(_, &r)| r)
            .map(|(i, &low)| (i, low));
    }
    let low = ranks.iter().copied().fold(u32::MAX, u32::min);
    let mut at = 0;
    for block in ranks.chunks(BLOCK) {
        if block.iter().fold(false, |hit, &r| hit | (r == low)) {
            return block.iter().position(|&r| r == low).map(|i| (at + i, low));
        }
        at += BLOCK;
    }
    None
}

/// The first of `bytes` that is one of `set`: whole chunks are checked with
/// no early exit, which the compiler vectorises (`position` does not).
#[inline]
fn find_any(bytes: &[u8], set: [u8; 3]) -> Option<usize> {
    const CHUNK: usize = 32;
    let is = |b: u8| (b == set[0]) | (b == set[1]) | (b == set[2]);
    let mut at = 0;
    let mut chunks = bytes.chunks_exact(CHUNK);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |hit, &b| hit | is(b)) {
            return chunk.iter().position(|&b| is(b)).map(|i| at + i);
        }
        at += CHUNK;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| is(b))
        .map(|i| at + i)
}

/// Where the chunk of a long piece that starts at `at` ends: about
/// `LONG_PIECE` bytes on, moved back to a char boundary (the piece is UTF-8).
fn chunk_end(piece: &[u8], at: usize) -> usize {
    let mut end = (at + LONG_PIECE).min(piece.len());
    while end < piece.len() && end > at + 1 && piece[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    end
}
