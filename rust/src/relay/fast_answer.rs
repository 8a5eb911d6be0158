//! The usual non-streamed answer, rewritten by a small byte scanner.
//!
//! `response::rewrite_general` reads the worker's body through serde: generic,
//! monomorphized code that is large and, on a gateway where each answer comes
//! alone, mostly instruction-cache misses. trtllm-serve's answers (Starlette's
//! compact JSON, strings escaped exactly as serde_json escapes them) almost
//! always have one shape, so this scanner walks it once and copies the worker's
//! string and integer slices as they are.
//!
//! It answers `None` for anything it is not sure to write byte for byte as the
//! general path does: a repeated key it reads, an escaped key, a string that
//! serde_json would escape differently, a float or negative number where it
//! reads one, logprobs, tool calls, or any JSON it does not fully validate
//! (exponents, very long numbers, surrogate escapes, deep nesting). The caller
//! then takes the general path, which also gives the error of a bad body.

use super::response::{head, Rewritten};
use super::{map_finish_reason, Kind, Meta};
use crate::swar;

/// Deeper than this is left to serde (its own limit is 128).
const MAX_DEPTH: usize = 100;
/// Longer numbers are left to serde (its range errors).
const MAX_NUMBER: usize = 40;
/// Keys of one `*_tokens_details` object it checks for repeats.
const MAX_DETAILS: usize = 8;

/// The answer for `body` when it has the usual shape; `tools` must be None.
pub(super) fn rewrite(body: &[u8], kind: Kind, meta: &Meta) -> Option<Rewritten> {
    let mut s = Scan { b: body, i: 0 };
    let mut out = Vec::with_capacity(body.len() + 64);
    head(&mut out, kind, meta);
    let (mut choices_seen, mut finish0) = (false, None);
    let mut usage: Option<Option<Usage>> = None;
    s.object(|s, key| match key {
        b"choices" if !choices_seen => {
            choices_seen = true;
            finish0 = choices(s, kind, &mut out)?;
            Some(())
        }
        b"usage" if usage.is_none() => {
            usage = Some(if s.peek()? == b'{' {
                Some(Usage::read(s)?)
            } else {
                s.skip(2)?;
                None
            });
            Some(())
        }
        b"choices" | b"usage" => None,
        _ => s.skip(2),
    })?;
    s.ws();
    if !choices_seen || s.i != body.len() {
        return None;
    }
    out.push(b']');
    let (mut prompt_tokens, mut completion_tokens) = (None, None);
    if let Some(u) = usage.flatten() {
        (prompt_tokens, completion_tokens) = (Some(u.prompt), Some(u.completion));
        out.extend_from_slice(b",\"usage\":");
        out.extend_from_slice(&u.buf);
    }
    out.push(b'}');
    Some(Rewritten {
        body: out,
        prompt_tokens,
        completion_tokens,
        finish_reason: finish0,
    })
}

/// The choices array, written to `out`; the finish reason of choice 0 (or the first).
fn choices(s: &mut Scan<'_>, kind: Kind, out: &mut Vec<u8>) -> Option<Option<&'static str>> {
    s.eat(b'[')?;
    let mut finish0 = None;
    if s.try_eat(b']') {
        return Some(None);
    }
    for pos in 0u64.. {
        if pos > 0 {
            out.push(b',');
        }
        let c = Choice::read(s, kind)?;
        let index = c.index.unwrap_or(pos);
        let finish = c.finish.unwrap_or("stop");
        match kind {
            Kind::Chat => {
                out.extend_from_slice(b"{\"index\":");
                uint(out, index);
                out.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"content\":");
                opt_raw(out, c.content);
                out.extend_from_slice(b",\"refusal\":");
                opt_raw(out, c.refusal);
                if let Some(r) = c.reasoning {
                    out.extend_from_slice(b",\"reasoning_content\":");
                    raw(out, r);
                }
                out.push(b'}');
            }
            Kind::Completion => {
                out.extend_from_slice(b"{\"text\":");
                raw(out, c.content.unwrap_or_default());
                out.extend_from_slice(b",\"index\":");
                uint(out, index);
            }
        }
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        // one of map_finish_reason's names: nothing to escape
        raw(out, finish.as_bytes());
        out.push(b'}');
        if index == 0 || finish0.is_none() {
            finish0 = Some(finish);
        }
        if !s.try_eat(b',') {
            s.eat(b']')?;
            break;
        }
    }
    Some(finish0)
}

/// `n` in decimal (as `to_string`, without the formatting machinery).
fn uint(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

/// A string's inner bytes that serde_json writes back the same (checked by `Scan::string`).
fn raw(out: &mut Vec<u8>, inner: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(inner);
    out.push(b'"');
}

fn opt_raw(out: &mut Vec<u8>, inner: Option<&[u8]>) {
    match inner {
        Some(s) => raw(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// What a choice keeps; strings as the worker's inner bytes.
#[derive(Default)]
struct Choice<'a> {
    index: Option<u64>,
    finish: Option<&'static str>,
    /// The message's content (chat) or the text (completion).
    content: Option<&'a [u8]>,
    refusal: Option<&'a [u8]>,
    /// Only when not empty.
    reasoning: Option<&'a [u8]>,
}

impl<'a> Choice<'a> {
    fn read(s: &mut Scan<'a>, kind: Kind) -> Option<Self> {
        let mut c = Choice::default();
        let mut seen = [false; 4];
        s.object(|s, key| {
            let k = match (key, kind) {
                (b"index", _) => 0,
                (b"finish_reason", _) => 1,
                (b"logprobs", _) => 2,
                (b"message", Kind::Chat) | (b"text", Kind::Completion) => 3,
                _ => return s.skip(4),
            };
            first(&mut seen, k)?;
            match k {
                0 if !s.null() => c.index = Some(s.number()?.1?),
                1 if !s.null() => c.finish = Some(map_finish_reason(s.plain_str()?)),
                2 if !s.null() => return None, // logprobs: the general path reshapes them
                3 if !s.null() => match kind {
                    Kind::Chat => c.message(s)?,
                    Kind::Completion => c.content = Some(s.canonical_str()?),
                },
                _ => {}
            }
            Some(())
        })?;
        Some(c)
    }

    /// The message's keys that `response::chat_message` keeps; others are dropped as there.
    fn message(&mut self, s: &mut Scan<'a>) -> Option<()> {
        let mut seen = [false; 4];
        s.object(|s, key| {
            let k = match key {
                b"content" => 0,
                b"refusal" => 1,
                b"reasoning_content" => 2,
                b"tool_calls" => 3,
                _ => return s.skip(5),
            };
            first(&mut seen, k)?;
            match (k, s.peek()?) {
                (0, b'"') => self.content = Some(s.canonical_str()?),
                (1, b'"') => self.refusal = Some(s.canonical_str()?),
                (2, b'"') => self.reasoning = Some(s.canonical_str()?).filter(|r| !r.is_empty()),
                // no calls: an empty list (trtllm's own) or nothing
                (3, b'[') => {
                    s.eat(b'[')?;
                    s.eat(b']')?;
                }
                // not a string: null in OpenAI's message (tool_calls: none)
                _ => s.skip(5)?,
            }
            Some(())
        })
    }
}

/// Marks key `k` seen; None when it was already (the general path keeps the last).
fn first(seen: &mut [bool], k: usize) -> Option<()> {
    let was = seen.get_mut(k)?;
    if *was {
        return None;
    }
    *was = true;
    Some(())
}

/// `usage` as `upstream::clean_usage` leaves it, written out.
struct Usage {
    buf: Vec<u8>,
    prompt: u64,
    completion: u64,
}

impl Usage {
    const KEYS: [&'static [u8]; 5] = [
        b"prompt_tokens",
        b"completion_tokens",
        b"total_tokens",
        b"prompt_tokens_details",
        b"completion_tokens_details",
    ];

    fn read(s: &mut Scan<'_>) -> Option<Self> {
        let mut buf = Vec::with_capacity(128);
        buf.push(b'{');
        let mut seen = [false; 5];
        let mut counts: [Option<u64>; 3] = [None; 3];
        s.object(|s, key| {
            let Some(k) = Self::KEYS.iter().position(|&k| k == key) else {
                return s.skip(3);
            };
            first(&mut seen, k)?;
            // clean_usage drops nulls
            if s.null() {
                return Some(());
            }
            key_out(&mut buf, key);
            match counts.get_mut(k) {
                Some(count) => {
                    let (digits, n) = s.number()?;
                    *count = Some(n?);
                    buf.extend_from_slice(digits);
                }
                None => details(s, &mut buf)?,
            }
            Some(())
        })?;
        let [prompt, completion, total] = counts;
        if total.is_none() {
            key_out(&mut buf, b"total_tokens");
            let sum = prompt.unwrap_or(0).saturating_add(completion.unwrap_or(0));
            uint(&mut buf, sum);
        }
        if prompt.is_none() {
            key_out(&mut buf, b"prompt_tokens");
            buf.push(b'0');
        }
        if completion.is_none() {
            key_out(&mut buf, b"completion_tokens");
            buf.push(b'0');
        }
        buf.push(b'}');
        Some(Self {
            buf,
            prompt: prompt.unwrap_or(0),
            completion: completion.unwrap_or(0),
        })
    }
}

/// `"key":` after a `{` or a `,` (keys here have no escapes: canonical as they are).
fn key_out(buf: &mut Vec<u8>, key: &[u8]) {
    if buf.last() != Some(&b'{') {
        buf.push(b',');
    }
    raw(buf, key);
    buf.push(b':');
}

/// A `*_tokens_details` object: integer counts or nulls, kept as they are.
fn details(s: &mut Scan<'_>, buf: &mut Vec<u8>) -> Option<()> {
    let mut keys: [&[u8]; MAX_DETAILS] = [b""; MAX_DETAILS];
    let mut n = 0;
    buf.push(b'{');
    s.object(|s, key| {
        if keys.get(..n)?.contains(&key) {
            return None;
        }
        *keys.get_mut(n)? = key;
        n += 1;
        key_out(buf, key);
        if s.null() {
            buf.extend_from_slice(b"null");
        } else {
            let (digits, v) = s.number()?;
            v?;
            buf.extend_from_slice(digits);
        }
        Some(())
    })?;
    buf.push(b'}');
    Some(())
}

/// A cursor over the body; every method answers None where the body leaves the usual shape.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.try_eat(c).then_some(())
    }

    fn try_eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn word(&mut self, w: &[u8]) -> bool {
        self.ws();
        let hit = self.b.get(self.i..).is_some_and(|rest| rest.starts_with(w));
        if hit {
            self.i += w.len();
        }
        hit
    }

    fn null(&mut self) -> bool {
        self.word(b"null")
    }

    /// An object whose keys have no escapes, each given to `f` to read its value.
    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.try_eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.plain()?;
            self.eat(b':')?;
            f(self, key)?;
            if !self.try_eat(b',') {
                return self.eat(b'}');
            }
        }
    }

    /// A string with no escapes at all, as its inner bytes.
    fn plain(&mut self) -> Option<&'a [u8]> {
        let (s, escapes) = self.string()?;
        (escapes == Escapes::None).then_some(s)
    }

    fn plain_str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.plain()?).ok()
    }

    /// A string that serde_json would write back byte for byte, as its inner bytes.
    fn canonical_str(&mut self) -> Option<&'a [u8]> {
        let (s, escapes) = self.string()?;
        (escapes != Escapes::Other).then_some(s)
    }

    /// A valid JSON string: its inner bytes (escapes not undone) and what escapes it has.
    fn string(&mut self) -> Option<(&'a [u8], Escapes)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escapes = Escapes::None;
        let mut ascii = true;
        loop {
            // eight bytes at a time while none needs a look; then straight to
            // the first that does
            while let Some(word) = swar::load(self.b, self.i) {
                let m = special(word);
                if m != 0 {
                    self.i += swar::first_lane(m);
                    break;
                }
                self.i += 8;
            }
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    let same = match e {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => true,
                        b'/' => false,
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4)?;
                            self.i += 4;
                            let mut v = 0;
                            for &h in hex {
                                v = v * 16 + char::from(h).to_digit(16)?;
                            }
                            // surrogates: serde's rules for pairs are left to it
                            if (0xd800..0xe000).contains(&v) {
                                return None;
                            }
                            // serde_json writes \u00xx (lowercase) only for the
                            // control characters without a short escape
                            v < 0x20
                                && !matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
                                && !hex.iter().any(u8::is_ascii_uppercase)
                        }
                        _ => return None,
                    };
                    if !same {
                        escapes = Escapes::Other;
                    } else if escapes == Escapes::None {
                        escapes = Escapes::Canonical;
                    }
                }
                0..=0x1f => return None,
                0x80.. => ascii = false,
                _ => {}
            }
        }
        let s = self.b.get(start..self.i - 1)?;
        if !ascii {
            std::str::from_utf8(s).ok()?;
        }
        Some((s, escapes))
    }

    /// A number without exponent: its bytes, and its value when a `u64` (serde reads a
    /// larger integer as a float, so that answers None for the whole body).
    fn number(&mut self) -> Option<(&'a [u8], Option<u64>)> {
        self.ws();
        let start = self.i;
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        let digits = self.digits();
        if digits == 0 || (digits > 1 && self.b.get(int_start) == Some(&b'0')) {
            return None;
        }
        let mut int = !neg;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            int = false;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            return None;
        }
        let s = self.b.get(start..self.i)?;
        if s.len() > MAX_NUMBER {
            return None;
        }
        if !int {
            return Some((s, None));
        }
        let v = std::str::from_utf8(s).ok()?.parse::<u64>().ok()?;
        Some((s, Some(v)))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// Any JSON value, checked and skipped.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' => {
                self.eat(b'{')?;
                if !self.try_eat(b'}') {
                    loop {
                        self.string()?;
                        self.eat(b':')?;
                        self.skip(depth + 1)?;
                        if !self.try_eat(b',') {
                            break self.eat(b'}')?;
                        }
                    }
                }
            }
            b'[' => {
                self.eat(b'[')?;
                if !self.try_eat(b']') {
                    loop {
                        self.skip(depth + 1)?;
                        if !self.try_eat(b',') {
                            break self.eat(b']')?;
                        }
                    }
                }
            }
            b'n' => self.word(b"null").then_some(())?,
            b't' => self.word(b"true").then_some(())?,
            b'f' => self.word(b"false").then_some(())?,
            _ => {
                self.number()?;
            }
        }
        Some(())
    }
}

/// The lanes of 8 string bytes that are a quote, a backslash, a control byte or
/// not ASCII (the lowest one exact: swar.rs).
fn special(w: u64) -> u64 {
    swar::equal(w, b'"') | swar::equal(w, b'\\') | swar::below(w, 0x20) | swar::non_ascii(w)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escapes {
    None,
    /// Only escapes that serde_json writes the same way.
    Canonical,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_to_string() {
        for n in [0, 7, 10, 99, 1_000_000_007, u64::MAX] {
            let mut out = Vec::new();
            uint(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn special_bytes_are_found_in_any_lane() {
        for lane in 0..8 {
            for b in 0..=255u8 {
                let mut w = *b"abcdefgh";
                if let Some(x) = w.get_mut(lane) {
                    *x = b;
                }
                let want = b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b);
                assert_eq!(
                    special(u64::from_le_bytes(w)) != 0,
                    want,
                    "{b:#x} at {lane}"
                );
            }
        }
    }
}
