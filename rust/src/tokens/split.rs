//! Pre-tokenizers: cut text into the pieces that BPE merges within.
//!
//! The vocabularies we ship split with one of three regexes (tiktoken style,
//! with a `\s+(?!\S)` look-ahead that needs a backtracking engine). Running
//! fancy-regex on every prompt cost most of a count, so the known patterns
//! are hand-written state machines over chars that split exactly as the regex
//! does (proptests compare them with fancy-regex on random text). Any other
//! pattern (a custom tokenizer file) still runs through fancy-regex.
//!
//! The character classes (`\p{L}`, `\p{N}`, `\s`, ...) come from
//! `regex-syntax`, the crate that gives fancy-regex (through `regex`) its
//! Unicode tables, so both sides agree on every code point by construction.

use std::ops::ControlFlow;
use std::sync::OnceLock;

use fancy_regex::Regex;
use regex_syntax::hir::{Class, HirKind};

use crate::swar;

/// Llama 3's pattern (cl100k's, as Meta ships it in tokenizer.json).
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen's pattern: Llama 3's with one digit per piece.
pub const QWEN_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Tekken's pattern (o200k-like: case-aware words, no contractions).
pub const TEKKEN_PATTERN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub enum Splitter {
    /// Llama 3 (`digits` = 3) and Qwen (`digits` = 1).
    Contractions {
        digits: usize,
    },
    Tekken,
    /// Any other pattern.
    Regex(Box<Regex>),
}

impl Splitter {
    /// The hand-written splitter for a pattern we know, else the regex.
    pub fn new(pattern: &str) -> Result<Self, Box<fancy_regex::Error>> {
        Ok(match pattern {
            LLAMA3_PATTERN => Splitter::Contractions { digits: 3 },
            QWEN_PATTERN => Splitter::Contractions { digits: 1 },
            TEKKEN_PATTERN => Splitter::Tekken,
            _ => Splitter::Regex(Box::new(Regex::new(pattern).map_err(Box::new)?)),
        })
    }

    /// Calls `f` with each piece of `text`, in order. The pieces cover the
    /// whole text (every pattern we know matches every char); a regex error
    /// mid-text (backtrack limit) passes the rest as one piece.
    pub fn for_each<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) {
        self.try_for_each(text, |piece| {
            f(piece);
            ControlFlow::Continue(())
        });
    }

    /// The same, stopping at the first piece for which `f` breaks.
    pub fn try_for_each<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str) -> ControlFlow<()>) {
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < text.len() {
            let end = match self {
                Splitter::Contractions { digits } => match ascii_word(bytes, at, ascii_letter) {
                    Some(letters) => ascii_run::<L>(text, letters),
                    None => contractions_piece(text, at, *digits),
                },
                Splitter::Tekken => match ascii_word(bytes, at, ascii_lower) {
                    Some(letters) => ascii_run::<W>(text, letters),
                    None => tekken_piece(text, at),
                },
                Splitter::Regex(re) => {
                    for m in re.find_iter(text) {
                        let Ok(m) = m else {
                            let _ = f(text);
                            return;
                        };
                        if f(m.as_str()).is_break() {
                            return;
                        }
                    }
                    return;
                }
            };
            if f(&text[at..end]).is_break() {
                return;
            }
            at = end;
        }
    }

    pub fn is_hand_written(&self) -> bool {
        !matches!(self, Splitter::Regex(_))
    }
}

// ------------------------------------------------------------------ classes

const L: u8 = 1; // \p{L}
const N: u8 = 2; // \p{N}
const S: u8 = 4; // \s (White_Space)
const U: u8 = 8; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
const W: u8 = 16; // [\p{Ll}\p{Lm}\p{Lo}\p{M}]

struct Classes {
    /// The mask of every char of the Basic Multilingual Plane (64 KB): one
    /// load for CJK and Cyrillic text instead of a binary search.
    bmp: Box<[u8]>,
    /// By a two-byte char's lead byte (its low 5 bits): the classes every
    /// char of that lead has (all 64 of U+0400-047F, leads D0 and D1, are
    /// \p{L}), so a word run skips them with no decode.
    lead2: [u8; 32],
    /// Sorted, disjoint (first, last, mask) ranges with a non-zero mask.
    ranges: Vec<(u32, u32, u8)>,
}

const BMP: u32 = 0x1_0000;

fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(true)
        .build()
        .parse(pattern);
    match hir.as_ref().map(|h| h.kind()) {
        Ok(HirKind::Class(Class::Unicode(c))) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        // Only reached if regex-syntax stopped knowing these classes.
        _ => Vec::new(),
    }
}

fn build_classes() -> Classes {
    let sets: [(u8, Vec<(u32, u32)>); 5] = [
        (L, class_ranges(r"\p{L}")),
        (N, class_ranges(r"\p{N}")),
        (S, class_ranges(r"\s")),
        (U, class_ranges(r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]")),
        (W, class_ranges(r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]")),
    ];
    let mask_of = |c: u32| -> u8 {
        sets.iter()
            .filter(|(_, rs)| {
                rs.binary_search_by(|&(a, b)| {
                    if b < c {
                        std::cmp::Ordering::Less
                    } else if a > c {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok()
            })
            .fold(0, |m, (bit, _)| m | bit)
    };
    // Every point where some class starts or stops.
    let mut cuts: Vec<u32> = vec![0, 0x11_0000];
    for (_, rs) in &sets {
        for &(a, b) in rs {
            cuts.push(a);
            cuts.push(b + 1);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut ranges: Vec<(u32, u32, u8)> = Vec::new();
    for w in cuts.windows(2) {
        let m = mask_of(w[0]);
        if m == 0 {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == w[0] && last.2 == m => last.1 = w[1] - 1,
            _ => ranges.push((w[0], w[1] - 1, m)),
        }
    }
    let mut bmp = vec![0u8; BMP as usize].into_boxed_slice();
    for &(a, b, m) in ranges.iter().take_while(|r| r.0 < BMP) {
        for slot in &mut bmp[a as usize..=b.min(BMP - 1) as usize] {
            *slot = m;
        }
    }
    let mut lead2 = [0u8; 32];
    // C0 and C1 lead no char of valid UTF-8: left 0
    for (lead, all) in lead2.iter_mut().enumerate().skip(2) {
        *all = (0..64).fold(u8::MAX, |m, k| m & bmp[lead << 6 | k]);
    }
    Classes { bmp, lead2, ranges }
}

fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(build_classes)
}

#[inline]
fn class(c: char) -> u8 {
    let t = classes();
    let c = c as u32;
    if let Some(&m) = t.bmp.get(c as usize) {
        return m;
    }
    let i = t.ranges.partition_point(|r| r.1 < c);
    match t.ranges.get(i) {
        Some(&(a, _, m)) if a <= c => m,
        _ => 0,
    }
}

/// The char at byte `i` with its class, or None at the end.
/// ASCII and two-byte chars (Latin, Greek, Cyrillic...) are decoded here
/// from their bytes: most chars, with no `str` slicing per char (three-byte
/// CJK measured no faster this way).
#[inline(always)]
fn at(text: &str, i: usize) -> Option<(char, u8)> {
    let bytes = text.as_bytes();
    let &b0 = bytes.get(i)?;
    let c = match (b0, bytes.get(i + 1)) {
        (0..=0x7F, _) => u32::from(b0),
        // a lead byte at `i`: `i` is a char boundary, and b1 continues the
        // char (the text is UTF-8)
        (0xC2..=0xDF, Some(&b1)) => u32::from(b0 & 0x1F) << 6 | u32::from(b1 & 0x3F),
        _ => {
            return text
                .get(i..)
                .and_then(|s| s.chars().next())
                .map(|c| (c, class(c)))
        }
    };
    char::from_u32(c).map(|c| (c, class(c)))
}

/// `[^\r\n\p{L}\p{N}]`
#[inline]
fn is_prefix(c: char, m: u8) -> bool {
    m & (L | N) == 0 && c != '\r' && c != '\n'
}

/// `[^\s\p{L}\p{N}]`
#[inline]
fn is_punct(m: u8) -> bool {
    m & (L | N | S) == 0
}

/// The end of the run of chars from `i` that satisfy `p`.
#[inline]
fn run(text: &str, mut i: usize, p: impl Fn(char, u8) -> bool) -> usize {
    while let Some((c, m)) = at(text, i) {
        if !p(c, m) {
            break;
        }
        i += c.len_utf8();
    }
    i
}

/// The ASCII chars of a word class, as (bits OR'd into each byte, first, last):
/// `\p{L}` is `[A-Za-z]` (`| 0x20` folds case), the lower and upper classes
/// `[a-z]` and `[A-Z]` (`ascii_words_run_eight_at_a_time_as_char_by_char`
/// checks every ASCII char at every lane against the Unicode tables).
fn ascii_range(mask: u8) -> Option<(u8, u8, u8)> {
    match mask {
        L => Some((0x20, b'a', b'z')),
        W => Some((0, b'a', b'z')),
        U => Some((0, b'A', b'Z')),
        _ => None,
    }
}

/// The lanes of `w` that are not an ASCII char of `range`, non-ASCII bytes
/// included. Exact in every lane: no sum crosses a lane (each is below 0x80
/// before the additions, and 0x7F + 0x80 - b'A' < 0x100).
#[inline(always)]
fn ascii_outside(w: u64, (or, first, last): (u8, u8, u8)) -> u64 {
    let x = (w & !swar::HIGH) | (swar::ONES * u64::from(or));
    let from_first = x + swar::ONES * u64::from(0x80 - first); // high bit: x >= first
    let past_last = x + swar::ONES * u64::from(0x80 - last - 1); // high bit: x > last
    (!(from_first & !past_last) & swar::HIGH) | (w & swar::HIGH)
}

#[inline(always)]
fn ascii_letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

#[inline(always)]
fn ascii_lower(b: u8) -> bool {
    b.is_ascii_lowercase()
}

/// Where the letters start of a piece at `i` that is an ASCII word: a letter that
/// `starts` a word, or a space and such a letter; None for any other piece. These are
/// most pieces of English and code, and each pattern we know makes them one piece
/// with the run of word chars that follows (Llama 3 and Qwen:
/// `[^\r\n\p{L}\p{N}]?\p{L}+`; Tekken, for a lower-case letter: its
/// `[^\r\n\p{L}\p{N}]?[...]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+` with an empty upper run), so
/// the splitter goes straight to that run with no char decoded.
#[inline(always)]
fn ascii_word(bytes: &[u8], i: usize, starts: fn(u8) -> bool) -> Option<usize> {
    match (bytes.get(i), bytes.get(i + 1)) {
        (Some(&b), _) if starts(b) => Some(i),
        (Some(b' '), Some(&b)) if starts(b) => Some(i + 1),
        _ => None,
    }
}

/// What the eight bytes from `i` hold for an ASCII run of a class.
enum Step {
    /// Eight ASCII chars of the class.
    Whole,
    /// The run ends at this ASCII char outside the class.
    Ends(usize),
    /// A wider char at this byte: decoded char by char.
    Wide(usize),
    /// Fewer than eight bytes left.
    Short,
}

#[inline(always)]
fn ascii_step(bytes: &[u8], i: usize, range: (u8, u8, u8)) -> Step {
    let Some(w) = swar::load(bytes, i) else {
        return Step::Short;
    };
    let stop = ascii_outside(w, range);
    if stop == 0 {
        return Step::Whole;
    }
    let at = i + swar::first_lane(stop);
    match bytes.get(at) {
        Some(b) if b.is_ascii() => Step::Ends(at),
        _ => Step::Wide(at),
    }
}

/// `run_class` for a run that starts with ASCII letters: eight at a time with
/// nothing else looked up, until an ASCII char outside the class ends it; a
/// wider char, or the last seven bytes of the text, go on in `run_class`.
#[inline(always)]
fn ascii_run<const MASK: u8>(text: &str, mut i: usize) -> usize {
    let bytes = text.as_bytes();
    if let Some(range) = ascii_range(MASK) {
        loop {
            match ascii_step(bytes, i, range) {
                Step::Whole => i += 8,
                Step::Ends(end) => return end,
                Step::Wide(at) => {
                    i = at;
                    break;
                }
                Step::Short => break,
            }
        }
    }
    run_class::<MASK>(text, i)
}

/// The end of the run of chars from `i` whose class has a bit of `MASK`:
/// `run` for the word loops, which only ask for a class. Chars of up to
/// three bytes are decoded here and their class read from the table with
/// no `char` made: a letter of a Cyrillic or CJK word costs a few
/// instructions, not a call to `at` (the splitter was a sixth of counting
/// Cyrillic).
///
/// ASCII letters go eight at a time (`ascii_outside`): an English word is
/// one or two steps, not a table load per letter.
///
/// `MASK` is a constant, so each class gets its own copy with its ASCII range folded in.
#[inline]
fn run_class<const MASK: u8>(text: &str, mut i: usize) -> usize {
    let mask = MASK;
    let Classes { bmp, lead2, .. } = classes();
    let bytes = text.as_bytes();
    let ascii = ascii_range(mask);
    while let Some(&b0) = bytes.get(i) {
        if let (true, Some(range)) = (b0 < 0x80, ascii) {
            match ascii_step(bytes, i, range) {
                Step::Whole => {
                    i += 8;
                    continue;
                }
                Step::Ends(end) => {
                    i = end;
                    break;
                }
                Step::Wide(at) => {
                    i = at; // decoded below, in the next turn
                    continue;
                }
                Step::Short => {} // the last bytes: char by char
            }
        }
        // `i` is a char boundary of valid UTF-8: a lead byte, and the
        // bytes its length says follow it
        let (c, w) = match b0 {
            0..=0x7F => (u32::from(b0), 1),
            0xC0..=0xDF if lead2[usize::from(b0 & 0x1F)] & mask != 0 => {
                i += 2;
                continue;
            }
            0xC0..=0xDF => match bytes.get(i + 1) {
                Some(&b1) => (u32::from(b0 & 0x1F) << 6 | u32::from(b1 & 0x3F), 2),
                None => break,
            },
            0xE0..=0xEF => match bytes.get(i + 1..i + 3) {
                Some(&[b1, b2]) => (
                    u32::from(b0 & 0x0F) << 12 | u32::from(b1 & 0x3F) << 6 | u32::from(b2 & 0x3F),
                    3,
                ),
                _ => break,
            },
            _ => match at(text, i) {
                Some((c, m)) if m & mask != 0 => {
                    i += c.len_utf8();
                    continue;
                }
                _ => break,
            },
        };
        match bmp.get(c as usize) {
            Some(&m) if m & mask != 0 => i += w,
            _ => break,
        }
    }
    i
}

/// The shared whitespace alternatives: `\s*[\r\n]+|\s+(?!\S)|\s+` at `i`,
/// where `text[i]` is whitespace.
fn whitespace(text: &str, i: usize) -> usize {
    let mut end = i;
    let mut last_newline_end = None;
    let mut last_char_start = i;
    while let Some((c, m)) = at(text, end) {
        if m & S == 0 {
            break;
        }
        last_char_start = end;
        end += c.len_utf8();
        if c == '\r' || c == '\n' {
            last_newline_end = Some(end);
        }
    }
    // \s*[\r\n]+ : up to the last line break of the run
    if let Some(e) = last_newline_end {
        return e;
    }
    // \s+(?!\S) : the whole run at the end of the text, else all but its last char
    if end == text.len() || last_char_start == i {
        return end; // (a single char: \s+)
    }
    last_char_start
}

/// ` ?[^\s\p{L}\p{N}]+` then a run of `tail` chars, at `i`; None if it does not match.
fn punctuation(text: &str, i: usize, c: char, m: u8, tail: &[char]) -> Option<usize> {
    let start = if c == ' ' {
        match at(text, i + 1) {
            Some((_, m2)) if is_punct(m2) => i + 1,
            _ => return None,
        }
    } else if is_punct(m) {
        i
    } else {
        return None;
    };
    let end = run(text, start, |_, m| is_punct(m));
    Some(run(text, end, |c, _| tail.contains(&c)))
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i` (an apostrophe): the match length.
fn contraction(text: &str, i: usize) -> Option<usize> {
    let rest = text.get(i + 1..)?;
    let mut cs = rest.chars();
    let fold = |c: Option<char>| {
        c.map(|c| {
            if c == '\u{17F}' {
                's'
            } else {
                c.to_ascii_lowercase()
            }
        })
    };
    let a = fold(cs.next())?;
    let first = rest.chars().next().map_or(0, char::len_utf8);
    match a {
        's' | 't' | 'm' | 'd' => Some(1 + first),
        'r' | 'v' if fold(cs.next()) == Some('e') => Some(3),
        'l' if fold(cs.next()) == Some('l') => Some(3),
        _ => None,
    }
}

/// The end of the piece that starts at `i` (Llama 3 / Qwen).
fn contractions_piece(text: &str, i: usize, digits: usize) -> usize {
    let Some((c, m)) = at(text, i) else {
        return text.len();
    };
    let next = i + c.len_utf8();
    if c == '\'' {
        if let Some(n) = contraction(text, i) {
            return i + n;
        }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if m & L != 0 {
        return run_class::<L>(text, next);
    }
    if is_prefix(c, m) {
        if let Some((_, m2)) = at(text, next) {
            if m2 & L != 0 {
                return run_class::<L>(text, next);
            }
        }
    }
    // \p{N}{1,digits}
    if m & N != 0 {
        let mut end = next;
        for _ in 1..digits {
            match at(text, end) {
                Some((c2, m2)) if m2 & N != 0 => end += c2.len_utf8(),
                _ => break,
            }
        }
        return end;
    }
    if let Some(end) = punctuation(text, i, c, m, &['\r', '\n']) {
        return end;
    }
    if m & S != 0 {
        return whitespace(text, i);
    }
    // Unreachable: every char is a letter, a number, whitespace or punctuation.
    next
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+` from `p`, with the
/// regex's backtracking: the end, or None.
fn upper_then_lower(text: &str, p: usize) -> Option<usize> {
    let mut q = p;
    let mut last_w_end = None; // the end of the last W char inside the U run
    while let Some((c, m)) = at(text, q) {
        if m & U == 0 {
            // the W run after the U run (a lowercase word: all of it)
            return if m & W != 0 {
                Some(run_class::<W>(text, q + c.len_utf8()))
            } else {
                last_w_end
            };
        }
        q += c.len_utf8();
        if m & W != 0 {
            last_w_end = Some(q);
        }
    }
    last_w_end
}

/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*` from `p`.
fn upper_run(text: &str, p: usize) -> Option<usize> {
    let q = run_class::<U>(text, p);
    (q > p).then(|| run_class::<W>(text, q))
}

/// The end of the piece that starts at `i` (Tekken).
fn tekken_piece(text: &str, i: usize) -> usize {
    let Some((c, m)) = at(text, i) else {
        return text.len();
    };
    let next = i + c.len_utf8();
    let prefixed = is_prefix(c, m);
    for word in [upper_then_lower, upper_run] {
        if prefixed {
            if let Some(end) = word(text, next) {
                return end;
            }
        }
        if let Some(end) = word(text, i) {
            return end;
        }
    }
    if m & N != 0 {
        return next;
    }
    if let Some(end) = punctuation(text, i, c, m, &['\r', '\n', '/']) {
        return end;
    }
    if m & S != 0 {
        return whitespace(text, i);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_regex(pattern: &str, text: &str) -> Vec<String> {
        static COMPILED: OnceLock<Vec<Regex>> = OnceLock::new();
        let all =
            COMPILED.get_or_init(|| PATTERNS.iter().map(|p| Regex::new(p).unwrap()).collect());
        let re = &all[PATTERNS.iter().position(|p| *p == pattern).unwrap()];
        re.find_iter(text)
            .map(|m| m.unwrap().as_str().to_string())
            .collect()
    }

    fn by_splitter(pattern: &str, text: &str) -> Vec<String> {
        let s = match pattern {
            LLAMA3_PATTERN => Splitter::Contractions { digits: 3 },
            QWEN_PATTERN => Splitter::Contractions { digits: 1 },
            _ => Splitter::Tekken,
        };
        assert!(Splitter::new(pattern).unwrap().is_hand_written());
        let mut out = Vec::new();
        s.for_each(text, |p| out.push(p.to_string()));
        out
    }

    const PATTERNS: [&str; 3] = [LLAMA3_PATTERN, QWEN_PATTERN, TEKKEN_PATTERN];

    /// `run_class` from 0 with the class given at run time.
    fn run_class_by(text: &str, mask: u8) -> usize {
        match mask {
            L => run_class::<L>(text, 0),
            U => run_class::<U>(text, 0),
            W => run_class::<W>(text, 0),
            _ => unreachable!("no word class {mask}"),
        }
    }

    fn check(text: &str) {
        for p in PATTERNS {
            assert_eq!(by_splitter(p, text), by_regex(p, text), "{p}\n{text:?}");
        }
    }

    #[test]
    fn known_cases() {
        for t in [
            "",
            "Hello, world!",
            "It's 9:41 and we've got 3 dogs, they'll see. I'M SURE'S ſ 'ſ 'Ll",
            "  leading\n\n  trailing   ",
            "a\r\n\r\n  b\t\t c \u{a0}\u{3000}x",
            "12345678 ١٢٣٤ ²³ Ⅻ",
            "HTTPServer getHTTPResponse CamelCase ÉCOLE école ǅungla",
            "e\u{301}\u{301} \u{301}a \u{301} A\u{301}B ",
            "x!!!\n\n/ //\r\n/a ?? ... 'hello' \"quoted\" ",
            "你好，世界。日本語のテキスト：東京タワーは333メートルです。",
            "مرحبا بالعالم 🙂👍🏽 emoji 🇫🇷 ok",
            "ʰʲ ˈstress ᵃ",
            "   \n",
            " ",
            "\n",
            "'",
            "' ",
            "'s",
            // the ASCII word fast path's edges: a word at either end, after one space and
            // after two, letters then marks, wider letters, case changes, apostrophes
            "a",
            " a",
            "a ",
            "  word\tword\n word",
            " words's x'y 'em",
            " cafe\u{301} na\u{ef}ve \u{e9}t\u{e9} a\u{301}b",
            " helloWorld camelCase lowerUPPER HTTPServer x\u{2c6}y",
            " ab12 a_b a-b a.b",
        ] {
            check(t);
        }
    }

    /// `run_class` decodes chars itself: for every char, it stops after it
    /// (before a '!') exactly when its class has the bit, else at once.
    #[test]
    fn run_class_reads_every_char_as_class_does() {
        for c in (0u32..0x11_0000).filter_map(char::from_u32) {
            let text = format!("{c}!");
            for mask in [L, U, W] {
                let want = if class(c) & mask != 0 {
                    c.len_utf8()
                } else {
                    0
                };
                assert_eq!(run_class_by(&text, mask), want, "{c:?} {mask}");
            }
        }
    }

    /// The eight-at-a-time ASCII path: every ASCII char at every lane of a
    /// long run of letters (upper and lower), and a wider char right after
    /// ASCII letters: the run ends where the char-by-char reading ends.
    #[test]
    fn ascii_words_run_eight_at_a_time_as_char_by_char() {
        let by_chars = |text: &str, mask: u8| -> usize {
            text.char_indices()
                .find(|&(_, c)| class(c) & mask == 0)
                .map_or(text.len(), |(i, _)| i)
        };
        let mut texts = Vec::new();
        for b in 0u8..0x80 {
            for lane in 0..12 {
                for base in [
                    "abcdefghijklmnopqrstu",
                    "ABCDEFGHIJKLMNOPQRSTU",
                    "aBcDeFgHiJkLmNoPqRsTu",
                ] {
                    let mut t: Vec<char> = base.chars().collect();
                    t[lane] = char::from(b);
                    texts.push(t.into_iter().collect::<String>());
                }
            }
        }
        for wide in ['é', 'É', 'ж', '東', '𝐀', '\u{301}', '\u{2028}'] {
            for n in 0..10 {
                texts.push(format!("{}{wide}tail", "word".repeat(n)));
                texts.push(format!("{}{wide}TAIL", "WORD".repeat(n)));
            }
        }
        for t in texts {
            for mask in [L, U, W] {
                assert_eq!(run_class_by(&t, mask), by_chars(&t, mask), "{t:?} {mask}");
            }
        }
    }

    /// Word runs (`run_class`) across letters of every UTF-8 width and
    /// case class: each pair and triple of them, alone, after a space or
    /// an apostrophe, and before punctuation, a digit or the text's end
    /// (a run decodes 1-3 byte chars itself and leaves 4-byte ones to `at`).
    #[test]
    fn word_runs_cross_every_char_width_and_case() {
        let letters = [
            'a',
            'Q',
            'é',
            'É',
            'ж',
            'Ж',
            'ǅ',
            'ʰ',
            '\u{301}',
            'ह',
            '\u{94d}',
            '東',
            'タ',
            'ﬁ',
            'Ⅻ',
            '𝐀',
            '𐐨',
            '𐐀',
            '𠀀',
            '\u{1d165}',
            '\u{e0100}',
        ];
        let mut texts = Vec::new();
        for a in letters {
            for b in letters {
                let pair: String = [a, b].into_iter().collect();
                for c in letters {
                    texts.push(format!("{pair}{c}"));
                }
                for around in ["{}", " {}", "'{}", "{}.", "{}7", "x{}", " {} {}"] {
                    texts.push(around.replace("{}", &pair));
                }
            }
        }
        for t in texts {
            check(&t);
        }
    }

    #[test]
    fn corpus() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/admission/corpus.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let mut all = String::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let s: String = serde_json::from_str(line).unwrap();
            check(&s);
            all.push_str(&s);
            all.push('\n');
        }
        check(&all);
    }

    #[test]
    fn every_char_is_classified_like_the_regex() {
        let l = Regex::new(r"^\p{L}$").unwrap();
        let n = Regex::new(r"^\p{N}$").unwrap();
        let s = Regex::new(r"^\s$").unwrap();
        let u = Regex::new(r"^[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]$").unwrap();
        let w = Regex::new(r"^[\p{Ll}\p{Lm}\p{Lo}\p{M}]$").unwrap();
        let mut buf = [0u8; 4];
        for c in (0u32..0x11_0000).step_by(7).filter_map(char::from_u32) {
            let t = c.encode_utf8(&mut buf);
            let m = class(c);
            assert_eq!(m & L != 0, l.is_match(t).unwrap(), "{c:?}");
            assert_eq!(m & N != 0, n.is_match(t).unwrap(), "{c:?}");
            assert_eq!(m & S != 0, s.is_match(t).unwrap(), "{c:?}");
            assert_eq!(m & U != 0, u.is_match(t).unwrap(), "{c:?}");
            assert_eq!(m & W != 0, w.is_match(t).unwrap(), "{c:?}");
        }
    }

    /// Chars that exercise every branch: ASCII, whitespace kinds, digits of
    /// several scripts, letters of each case class, marks, punctuation, emoji.
    fn interesting() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::sample::select(vec![
                'a', 'z', 'A', 'Z', 's', 'S', 't', 'T', 'r', 'e', 'v', 'E', 'm', 'l', 'L', 'd', 'D',
                '\'', '\u{17F}', '0', '5', '9',
            ]),
            3 => prop::sample::select(vec![' ', ' ', '\n', '\r', '\t', '\u{a0}', '\u{3000}', '\u{2028}', '\u{b}', '\u{c}', '\u{85}']),
            2 => prop::sample::select(vec![
                '.', ',', '!', '?', '/', '-', '"', '(', ')', '{', '}', ':', ';', '_', '*', '#', '@', '<', '>', '|',
                '\u{201c}', '\u{3002}', '\u{ff0c}',
            ]),
            2 => prop::sample::select(vec![
                'é', 'É', 'ß', 'ǅ', 'ʰ', 'ˈ', 'ᵃ', 'ж', 'Ж', 'λ', 'Ω', '你', '東', 'の', 'タ', '한', 'م', 'ا',
                'ﬁ', 'ⅰ', 'Ⅻ',
            ]),
            1 => prop::sample::select(vec!['\u{301}', '\u{300}', '\u{94d}', '\u{20dd}', '\u{302}', '\u{903}']),
            1 => prop::sample::select(vec!['١', '٢', '²', '½', '߀', '\u{1d7ce}']),
            1 => prop::sample::select(vec!['🙂', '👍', '\u{1f3fd}', '\u{200d}', '\u{fe0f}', '🇫', '€', '\u{0}', '\u{7f}', '\u{ad}']),
            1 => any::<char>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn splits_like_the_regex(chars in prop::collection::vec(interesting(), 0..40)) {
            let text: String = chars.into_iter().collect();
            for p in PATTERNS {
                prop_assert_eq!(by_splitter(p, &text), by_regex(p, &text), "{}", p);
            }
        }

        #[test]
        fn splits_arbitrary_strings_like_the_regex(text in ".{0,60}") {
            for p in PATTERNS {
                prop_assert_eq!(by_splitter(p, &text), by_regex(p, &text), "{}", p);
            }
        }
    }
}
