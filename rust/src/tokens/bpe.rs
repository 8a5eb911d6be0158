//! Byte-level BPE over tiktoken-style ranks: split the text with the
//! vocabulary's regex, then merge each piece's bytes, lowest rank first
//! (leftmost on ties), as tiktoken does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use ahash::AHashMap;
use fancy_regex::Regex;
use unicode_normalization::{IsNormalized, UnicodeNormalization};

pub struct BytePairEncoder {
    ranks: AHashMap<Vec<u8>, u32>,
    pattern: Regex,
    /// Added tokens recognised in text (Qwen's `<|im_start|>`, `<tool_call>`...),
    /// longest first so a prefix never wins over the whole token.
    specials: Vec<(String, u32)>,
    /// Tokens that only chat templates place (Tekken's control tokens).
    controls: HashMap<String, u32>,
    /// Added to every rank (Tekken numbers its vocabulary after the specials).
    offset: u32,
    nfc: bool,
}

/// Pieces longer than this merge with a heap: the simple scan is quadratic.
const SHORT_PIECE: usize = 128;

impl BytePairEncoder {
    pub fn new(
        ranks: AHashMap<Vec<u8>, u32>,
        pattern: Regex,
        mut specials: Vec<(String, u32)>,
        controls: HashMap<String, u32>,
        offset: u32,
        nfc: bool,
    ) -> Self {
        specials.sort_by_key(|s| Reverse(s.0.len()));
        BytePairEncoder {
            ranks,
            pattern,
            specials,
            controls,
            offset,
            nfc,
        }
    }

    /// The id of a special or control token, by its text.
    pub fn special_id(&self, token: &str) -> Option<u32> {
        self.specials
            .iter()
            .find(|(t, _)| t == token)
            .map(|&(_, id)| id)
            .or_else(|| self.controls.get(token).copied())
    }

    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        let quick = || unicode_normalization::is_nfc_quick(text.chars());
        let text: std::borrow::Cow<'_, str> = if self.nfc && quick() != IsNormalized::Yes {
            text.nfc().collect::<String>().into()
        } else {
            text.into()
        };
        let mut rest: &str = &text;
        while !rest.is_empty() {
            match self.next_special(rest) {
                Some((at, token, id)) => {
                    self.encode_ordinary(&rest[..at], out);
                    out.push(id);
                    rest = &rest[at + token.len()..];
                }
                None => {
                    self.encode_ordinary(rest, out);
                    break;
                }
            }
        }
    }

    fn next_special<'a>(&'a self, text: &str) -> Option<(usize, &'a str, u32)> {
        if self.specials.is_empty() {
            return None;
        }
        let mut best: Option<(usize, &str, u32)> = None;
        for (token, id) in &self.specials {
            if let Some(at) = text.find(token.as_str()) {
                if best.map_or(true, |(b, t, _)| {
                    at < b || (at == b && token.len() > t.len())
                }) {
                    best = Some((at, token, *id));
                }
            }
        }
        best
    }

    fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) {
        for m in self.pattern.find_iter(text) {
            // A pattern error mid-text (backtrack limit) encodes the rest as one piece.
            let piece = match m {
                Ok(m) => m.as_str(),
                Err(_) => {
                    self.merge(text.as_bytes(), out);
                    return;
                }
            };
            self.merge(piece.as_bytes(), out);
        }
    }

    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        self.ranks.get(bytes).copied()
    }

    fn merge(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        if let Some(r) = self.rank(piece) {
            out.push(r + self.offset);
            return;
        }
        let bounds = if piece.len() <= SHORT_PIECE {
            self.merge_short(piece)
        } else {
            self.merge_long(piece)
        };
        for w in bounds.windows(2) {
            // Every single byte has a rank in a byte-level vocabulary; a file
            // without one yields no id for that byte rather than a panic.
            if let Some(r) = self.rank(&piece[w[0]..w[1]]) {
                out.push(r + self.offset);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn merge_with_scan(&self, piece: &[u8], out: &mut Vec<u32>) {
        let bounds = self.merge_short(piece);
        for w in bounds.windows(2) {
            if let Some(r) = self.rank(&piece[w[0]..w[1]]) {
                out.push(r + self.offset);
            }
        }
    }

    /// tiktoken's scan: boundaries of the final tokens.
    fn merge_short(&self, piece: &[u8]) -> Vec<usize> {
        let mut bounds: Vec<usize> = (0..=piece.len()).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..bounds.len().saturating_sub(2) {
                if let Some(r) = self.rank(&piece[bounds[i]..bounds[i + 2]]) {
                    if best.map_or(true, |(b, _)| r < b) {
                        best = Some((r, i));
                    }
                }
            }
            match best {
                Some((_, i)) => {
                    bounds.remove(i + 1);
                }
                None => return bounds,
            }
        }
    }

    /// The same merges with a heap and linked parts: O(n log n) for long pieces.
    fn merge_long(&self, piece: &[u8]) -> Vec<usize> {
        let n = piece.len();
        // part i spans start[i]..start[next[i]]; next == n means the end.
        let start: Vec<usize> = (0..=n).collect();
        let mut next: Vec<usize> = (1..=n + 1).collect();
        let mut prev: Vec<usize> = (0..=n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n + 1];
        let end_of = |next: &Vec<usize>, i: usize| start[next[i].min(n)];
        let mut heap = BinaryHeap::new();
        for i in 0..n.saturating_sub(1) {
            if let Some(r) = self.rank(&piece[i..i + 2]) {
                heap.push(Reverse((r, i, i + 2)));
            }
        }
        while let Some(Reverse((r, i, end))) = heap.pop() {
            if !alive[i] || next[i] >= n {
                continue;
            }
            let j = next[i];
            let pair_end = end_of(&next, j);
            if pair_end != end || self.rank(&piece[i..pair_end]) != Some(r) {
                continue; // stale: one side merged since this was pushed
            }
            // merge j into i
            alive[j] = false;
            next[i] = next[j];
            if next[j] <= n {
                prev[next[j]] = i;
            }
            let new_end = end_of(&next, i);
            if next[i] < n {
                let after = end_of(&next, next[i]);
                if let Some(r2) = self.rank(&piece[i..after]) {
                    heap.push(Reverse((r2, i, after)));
                }
            }
            let p = prev[i];
            if p < n && alive[p] {
                if let Some(r2) = self.rank(&piece[p..new_end]) {
                    heap.push(Reverse((r2, p, new_end)));
                }
            }
        }
        let mut bounds = Vec::new();
        let mut i = 0;
        while i < n {
            bounds.push(start[i]);
            i = next[i];
        }
        bounds.push(n);
        bounds
    }
}
