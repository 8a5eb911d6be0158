//! Incremental parser for `text/event-stream` bodies (the WHATWG SSE rules).
//!
//! Upstream bytes arrive split anywhere: inside a UTF-8 character, between
//! `\r` and `\n`, inside `data:`. The parser keeps the partial line between
//! calls and hands each complete event's data (its `data:` lines joined with
//! `\n`) to a callback. Only `data` matters to the relay: `event`, `id`,
//! `retry` and comment lines are read and dropped.

/// Largest event (pending line plus joined data) we buffer before giving up:
/// a worker that never ends a line must not grow our memory without bound.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// An event grew beyond [`MAX_EVENT_BYTES`].
    EventTooLarge,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// The current line, when it spans several `feed` calls.
    line: Vec<u8>,
    /// Data of the event being built.
    data: Vec<u8>,
    /// A `data` field was seen for this event (decides the `\n` separator).
    has_data: bool,
    /// The previous chunk ended in `\r`: a leading `\n` completes that `\r\n`.
    skip_lf: bool,
    /// The first line has been processed (a BOM may only precede it).
    started: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next piece of the body; `on_event` gets each complete event's data.
    pub fn feed<F: FnMut(&[u8])>(&mut self, input: &[u8], mut on_event: F) -> Result<(), SseError> {
        let mut rest = input;
        // An empty read must not forget a pending `\r` (the `\n` may come next).
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            if let Some((b'\n', tail)) = rest.split_first() {
                rest = tail;
            }
        }
        while !rest.is_empty() {
            let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                if self.line.len() + self.data.len() + rest.len() > MAX_EVENT_BYTES {
                    return Err(SseError::EventTooLarge);
                }
                self.line.extend_from_slice(rest);
                break;
            };
            let (head, tail) = rest.split_at(end);
            // `tail` starts with the terminator; a `\r\n` pair counts as one.
            let skip = match tail {
                [b'\r', b'\n', ..] => 2,
                [b'\r'] => {
                    self.skip_lf = true;
                    1
                }
                _ => 1,
            };
            rest = tail.get(skip..).unwrap_or_default();
            if self.line.is_empty() {
                self.line_done(head, &mut on_event)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                let r = self.line_done(&line, &mut on_event);
                line.clear();
                self.line = line;
                r?;
            }
        }
        Ok(())
    }

    /// The body ended. The SSE spec drops an event that lacks its blank line;
    /// we hand it over anyway and let the caller decide whether it is usable
    /// (a final `data: [DONE]` without the blank line is common enough).
    pub fn finish<F: FnMut(&[u8])>(&mut self, mut on_event: F) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            // Cannot fail: the line is already buffered, so within the limit.
            let _ = self.line_done(&line, &mut on_event);
        }
        self.dispatch(&mut on_event);
        self.skip_lf = false;
    }

    fn line_done<F: FnMut(&[u8])>(
        &mut self,
        mut line: &[u8],
        on_event: &mut F,
    ) -> Result<(), SseError> {
        if !self.started {
            self.started = true;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(on_event);
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(()); // comment, e.g. `: keep-alive`
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let (f, v) = line.split_at(i);
                let v = v.get(1..).unwrap_or_default();
                (f, v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                return Err(SseError::EventTooLarge);
            }
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        Ok(())
    }

    fn dispatch<F: FnMut(&[u8])>(&mut self, on_event: &mut F) {
        // Per the spec an empty data buffer dispatches nothing.
        if !self.data.is_empty() {
            on_event(&self.data);
        }
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, |d| out.push(String::from_utf8_lossy(d).into_owned()))
                .ok();
        }
        p.finish(|d| out.push(format!("EOF:{}", String::from_utf8_lossy(d))));
        out
    }

    #[test]
    fn every_line_ending() {
        for eol in ["\n", "\r\n", "\r"] {
            let body = format!("data: a{eol}{eol}data: b{eol}{eol}");
            assert_eq!(events(&[body.as_bytes()]), ["a", "b"], "eol {eol:?}");
        }
        // Mixed endings in one stream.
        assert_eq!(
            events(&[b"data: a\r\n\rdata: b\r\r\ndata: c\n\n"]),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn crlf_split_between_chunks_is_one_terminator() {
        // `\r` ends chunk 1, `\n` starts chunk 2: still one line end, not a blank line.
        assert_eq!(events(&[b"data: a\r", b"\ndata: b\r\n\r\n"]), ["a\nb"]);
        // An empty read between the `\r` and the `\n` changes nothing.
        assert_eq!(events(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]), ["a\nb"]);
        // `\r` then `\r` in the next chunk: a blank line.
        assert_eq!(events(&[b"data: a\r", b"\rdata: b\n\n"]), ["a", "b"]);
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        let body = b": keep-alive\n\nevent: message\nid: 7\nretry: 10\ndata: x\n:c\n\n";
        assert_eq!(events(&[body]), ["x"]);
    }

    #[test]
    fn multi_line_data_joined_with_newline() {
        assert_eq!(events(&[b"data: {\"a\":\ndata:1}\n\n"]), ["{\"a\":\n1}"]);
        // `data` with no colon is an empty data line.
        assert_eq!(events(&[b"data\ndata\n\n"]), ["\n"]);
    }

    #[test]
    fn only_one_leading_space_is_stripped_and_trailing_kept() {
        // trtllm's first chat chunk: `data: {...} \n\n`.
        assert_eq!(events(&[b"data:  {} \n\n"]), [" {} "]);
        assert_eq!(events(&[b"data:x\n\n"]), ["x"]);
    }

    #[test]
    fn empty_data_dispatches_nothing() {
        assert!(events(&[b"data:\n\n\n\n"]).is_empty());
    }

    #[test]
    fn bom_only_at_stream_start() {
        assert_eq!(events(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]), ["a"]);
    }

    #[test]
    fn unterminated_event_handed_over_at_finish() {
        assert_eq!(events(&[b"data: a\n\ndata: [DONE]"]), ["a", "EOF:[DONE]"]);
        assert_eq!(events(&[b"data: a\n\ndata: b\n"]), ["a", "EOF:b"]);
    }

    #[test]
    fn a_line_that_never_ends_is_refused() {
        let mut p = SseParser::new();
        let big = vec![b'x'; 1 << 20];
        let mut res = Ok(());
        for _ in 0..17 {
            res = p.feed(&big, |_| {});
            if res.is_err() {
                break;
            }
        }
        assert_eq!(res, Err(SseError::EventTooLarge));
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            cuts in proptest::collection::vec(0usize..200, 0..12),
            eol in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        ) {
            let body = [
                "data: {\"a\": \"h\u{e9}llo \u{1F600}\"} ", "", ": ping", "",
                "data: x", "data: y", "", "data: [DONE]", "", "",
            ].join(eol);
            let bytes = body.as_bytes();
            let whole = events(&[bytes]);
            let mut pts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            pts.sort_unstable();
            let mut pieces = Vec::new();
            let mut prev = 0;
            for p in pts {
                pieces.push(&bytes[prev..p]);
                prev = p;
            }
            pieces.push(&bytes[prev..]);
            prop_assert_eq!(events(&pieces), whole.clone());
            prop_assert_eq!(whole, vec!["{\"a\": \"h\u{e9}llo \u{1F600}\"} ", "x\ny", "[DONE]"]);
        }
    }
}
