//! The usage spool reader's fast path: a run of the lines it can take
//! without decoding them one at a time in Python.
//!
//! A spool line is a JSON object written by `orjson.dumps(row)`, keys in the
//! store's column order. The reader (python/provocapi/usage/reader.py) keeps a
//! begin line raw until its call ends, and decodes an end into a row. This scan
//! walks whole lines from an offset and stops at the first line that is neither
//!
//! - a plain begin: `{"event_id":"<id>","version":<begin>,` with an id of ASCII
//!   and no escapes (the test the Python reader applies before keeping it raw);
//! - a plain end: `{"event_id":"<id>","version":<end>,` with such an id, then
//!   every other column exactly once, in order, each value a string or a bare
//!   scalar (no nesting, no whitespace), and nothing after the closing brace.
//!
//! Anything else (a progress line, a legacy end, an escaped id, a torn or
//! foreign line) is left to Python, which reads it as before. Begins and ends
//! of one call inside the run are paired here, so Python sees only what
//! crosses the run's edges. The scan validates no values: Python decodes the
//! ends with orjson in one call, and reads the run line by line if that fails.
//!
//! The ends come back as one JSON array of arrays, each end's values in column
//! order with the keys left out: a list of values decodes in less than half the
//! time of a dict, and is what a store binds.

use std::collections::HashMap;

/// The line shapes of one column list; built once per process.
pub struct Shape {
    head: Vec<u8>,
    begin_mark: Vec<u8>,
    end_mark: Vec<u8>,
    /// bytes of the end version's digits (the end of `end_mark`, before its comma)
    end_len: usize,
    /// `"column":` for each column after event_id and version
    keys: Vec<Vec<u8>>,
}

/// One run of plain lines, from `start` to `stop` (both at line starts).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Run<'a> {
    pub stop: usize,
    /// the end lines' values, `[[v, ...], ...]` in order (empty: no end)
    pub ends: Vec<u8>,
    /// end lines in the run: each one row
    pub rows: usize,
    /// ids of ends whose begin is not in the run (Python pops them from its open map)
    pub pops: Vec<&'a [u8]>,
    /// ids of begins ended inside the run
    pub paired: Vec<&'a [u8]>,
    /// begins still open at `stop`, (id, line), in the order a dict would hold them
    pub opens: Vec<(&'a [u8], &'a [u8])>,
    /// begin lines in the run, paired or not
    pub begins: usize,
}

enum Line<'a> {
    Begin(&'a [u8]),
    End(&'a [u8]),
    Other,
}

impl Shape {
    /// None unless `columns` starts with event_id and version.
    pub fn new(columns: &[&str], begin: i64, end: i64) -> Option<Shape> {
        if columns.len() < 2 || columns[0] != "event_id" || columns[1] != "version" {
            return None;
        }
        Some(Shape {
            head: b"{\"event_id\":\"".to_vec(),
            begin_mark: format!("\",\"version\":{begin},").into_bytes(),
            end_mark: format!("\",\"version\":{end},").into_bytes(),
            end_len: end.to_string().len(),
            keys: columns[2..]
                .iter()
                .map(|c| format!("\"{c}\":").into_bytes())
                .collect(),
        })
    }

    /// Whole lines from `start` until one needs Python, `limit` ends were
    /// taken, or no newline is left.
    pub fn scan<'a>(&self, data: &'a [u8], start: usize, limit: usize) -> Run<'a> {
        let mut run = Run {
            stop: start.min(data.len()),
            ..Run::default()
        };
        // open begins of the run: id → slot in `slots` (None once ended)
        let mut index: HashMap<&[u8], usize, ahash::RandomState> = HashMap::default();
        let mut slots: Vec<Option<(&[u8], &[u8])>> = Vec::new();
        let mut pos = run.stop;
        while run.rows < limit {
            let Some(len) = memchr::memchr(b'\n', &data[pos..]) else {
                break;
            };
            let line = &data[pos..pos + len];
            match self.classify(line, &mut run.ends) {
                Line::Begin(id) => {
                    run.begins += 1;
                    match index.get(id) {
                        // a second begin of one id: a dict keeps the first place, the last value
                        Some(&slot) => slots[slot] = Some((id, line)),
                        None => {
                            index.insert(id, slots.len());
                            slots.push(Some((id, line)));
                        }
                    }
                }
                Line::End(id) => {
                    run.rows += 1;
                    match index.remove(id) {
                        Some(slot) => {
                            slots[slot] = None;
                            run.paired.push(id);
                        }
                        None => run.pops.push(id),
                    }
                }
                Line::Other => break,
            }
            pos += len + 1;
        }
        if !run.ends.is_empty() {
            run.ends.push(b']');
        }
        run.stop = pos;
        run.opens = slots.into_iter().flatten().collect();
        run
    }

    /// What `line` is; an end's values are appended to `ends`.
    fn classify<'a>(&self, line: &'a [u8], ends: &mut Vec<u8>) -> Line<'a> {
        let Some(rest) = line.strip_prefix(self.head.as_slice()) else {
            return Line::Other;
        };
        let Some(quote) = memchr::memchr(b'"', rest) else {
            return Line::Other;
        };
        let id = &rest[..quote];
        if id.is_empty() || !id.is_ascii() || id.contains(&b'\\') {
            return Line::Other;
        }
        let after = &rest[quote..];
        if after.starts_with(&self.begin_mark) {
            return Line::Begin(id);
        }
        let Some(columns) = after.strip_prefix(self.end_mark.as_slice()) else {
            return Line::Other;
        };
        let mark = ends.len();
        ends.push(if mark == 0 { b'[' } else { b',' });
        ends.push(b'[');
        // event_id and version, as the line spells them
        ends.extend_from_slice(&line[self.head.len() - 1..self.head.len() + quote + 1]);
        ends.push(b',');
        ends.extend_from_slice(
            &self.end_mark[self.end_mark.len() - 1 - self.end_len..self.end_mark.len() - 1],
        );
        if self.columns_fit(columns, ends) {
            ends.push(b']');
            Line::End(id)
        } else {
            ends.truncate(mark);
            Line::Other
        }
    }

    /// `"day":v,"started_ms":v,...,"batch_id":v}` and nothing more; each `,v` to `out`.
    fn columns_fit(&self, mut s: &[u8], out: &mut Vec<u8>) -> bool {
        let last = self.keys.len().saturating_sub(1);
        for (i, key) in self.keys.iter().enumerate() {
            let Some(value) = s.strip_prefix(key.as_slice()) else {
                return false;
            };
            let Some(n) = value_len(value) else {
                return false;
            };
            let sep = if i == last { b'}' } else { b',' };
            if value.get(n) != Some(&sep) {
                return false;
            }
            out.push(b',');
            out.extend_from_slice(&value[..n]);
            s = &value[n + 1..];
        }
        s.is_empty()
    }
}

/// Bytes of the string or bare scalar `s` starts with; None for anything
/// else (an object, an array, whitespace, an unterminated string).
fn value_len(s: &[u8]) -> Option<usize> {
    if s.first() == Some(&b'"') {
        let mut i = 1;
        while let Some(j) = memchr::memchr2(b'"', b'\\', s.get(i..)?) {
            if s[i + j] == b'"' {
                return Some(i + j + 1);
            }
            i += j + 2; // a backslash and the byte it escapes
        }
        return None;
    }
    // numbers, true, false, null (orjson checks which): no bracket, no quote
    let n = s
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        .count();
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const COLUMNS: &[&str] = &["event_id", "version", "day", "ttft_ms", "batch_id"];

    fn shape() -> Shape {
        Shape::new(COLUMNS, 1, 3).expect("columns start with event_id, version")
    }

    fn begin(id: &str) -> String {
        format!(
            "{{\"event_id\":\"{id}\",\"version\":1,\"day\":\"d\",\"ttft_ms\":null,\"batch_id\":\"\"}}\n"
        )
    }

    fn end(id: &str) -> String {
        format!("{{\"event_id\":\"{id}\",\"version\":3,\"day\":\"d\",\"ttft_ms\":1.5,\"batch_id\":\"b\\\"}}\"}}\n")
    }

    #[test]
    fn pairs_inside_the_run_and_reports_the_edges() {
        let data = format!(
            "{}{}{}{}{}",
            begin("a"),
            end("x"),
            begin("b"),
            end("a"),
            begin("a")
        );
        let run = shape().scan(data.as_bytes(), 0, 10);
        assert_eq!(run.stop, data.len());
        assert_eq!(run.rows, 2);
        assert_eq!(
            std::str::from_utf8(&run.ends).ok(),
            Some(r#"[["x",3,"d",1.5,"b\"}"],["a",3,"d",1.5,"b\"}"]]"#)
        );
        assert_eq!(run.pops, vec![b"x".as_slice()]);
        assert_eq!(run.paired, vec![b"a".as_slice()]);
        let ids: Vec<&[u8]> = run.opens.iter().map(|o| o.0).collect();
        assert_eq!(ids, vec![b"b".as_slice(), b"a".as_slice()]);
        assert_eq!(run.begins, 3);
    }

    #[test]
    fn a_repeated_begin_keeps_its_place_and_takes_the_last_line() {
        let b2 = begin("a").replace("\"d\"", "\"e\"");
        let data = format!("{}{}{}", begin("a"), begin("b"), b2);
        let run = shape().scan(data.as_bytes(), 0, 10);
        assert_eq!(run.opens.len(), 2);
        assert_eq!(run.opens[0].0, b"a");
        assert_eq!(run.opens[0].1, b2.trim_end().as_bytes());
    }

    #[test]
    fn stops_at_a_line_python_must_read() {
        let s = shape();
        for other in [
            "{\"progress\":[],\"at_ms\":1}\n",
            "{\"event_id\":\"a\\u0062\",\"version\":3,\"day\":\"d\",\"ttft_ms\":1,\"batch_id\":\"\"}\n",
            "{\"event_id\":\"a\",\"version\":2,\"day\":\"d\",\"ttft_ms\":1,\"batch_id\":\"\"}\n",
            "{\"event_id\":\"a\",\"version\":3,\"day\":\"d\",\"ttft_ms\":1}\n",
            "{\"event_id\":\"a\",\"version\":3,\"day\":\"d\",\"ttft_ms\":[1],\"batch_id\":\"\"}\n",
            "{\"event_id\":\"a\",\"version\":3,\"day\":\"d\",\"ttft_ms\":1,\"batch_id\":\"\"} \n",
            "{\"event_id\":\"a\",\"version\":3,\"day\":\"d\",\"ttft_ms\":1,\"batch_id\":\"\"}}\n",
            "{\"event_id\":\"a\",\"version\":3,\"day\":\"d\",\"ttft_ms\":1,\"batch_id\":\"\n",
            "{\"event_id\":\"\",\"version\":1,\"day\":\"d\"}\n",
            "{\"event_id\":\"é\",\"version\":1,\"day\":\"d\"}\n",
            "{\"event_id\":\"a\n",
            "\n",
            "garbage\n",
        ] {
            let data = format!("{}{other}{}", begin("a"), end("a"));
            let run = s.scan(data.as_bytes(), 0, 10);
            assert_eq!(run.stop, begin("a").len(), "{other:?}");
            assert_eq!(run.begins, 1);
            assert!(run.ends.is_empty() && run.rows == 0);
        }
    }

    #[test]
    fn stops_after_limit_ends_and_before_a_torn_tail() {
        let data = format!(
            "{}{}{}{}",
            end("a"),
            begin("b"),
            end("c"),
            "{\"event_id\":\"d"
        );
        let run = shape().scan(data.as_bytes(), 0, 1);
        assert_eq!(run.stop, end("a").len());
        let run = shape().scan(data.as_bytes(), run.stop, 5);
        assert_eq!(run.stop, data.rfind('\n').map_or(0, |i| i + 1));
        assert_eq!(run.rows, 1);
        assert_eq!(run.opens.len(), 1);
    }

    #[test]
    fn a_start_past_the_data_is_an_empty_run() {
        let run = shape().scan(b"x\n", 7, 3);
        assert_eq!(run.stop, 2);
        assert_eq!(
            run,
            Run {
                stop: 2,
                ..Run::default()
            }
        );
    }

    #[test]
    fn other_columns_are_refused() {
        assert!(Shape::new(&["version", "event_id"], 1, 3).is_none());
        assert!(Shape::new(&["event_id"], 1, 3).is_none());
    }

    proptest! {
        /// Any bytes: no panic, the run ends on a line start, never past `limit` ends,
        /// and what it hands over adds up.
        #[test]
        fn any_bytes_scan_to_a_line_start(
            lines in proptest::collection::vec(
                prop_oneof![
                    "[a-z]{1,3}".prop_map(|id| begin(&id)),
                    "[a-z]{1,3}".prop_map(|id| end(&id)),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..40)
                        .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                ],
                0..30,
            ),
            cut in 0usize..4000,
            start in 0usize..200,
            limit in 0usize..20,
        ) {
            let mut data = lines.concat().into_bytes();
            data.truncate(cut.min(data.len()));
            let run = shape().scan(&data, start, limit);
            let from = start.min(data.len());
            prop_assert!(run.stop >= from && run.stop <= data.len());
            prop_assert!(run.stop == from || data[run.stop - 1] == b'\n');
            prop_assert!(run.rows <= limit);
            prop_assert_eq!(run.rows, run.pops.len() + run.paired.len());
            prop_assert!(run.opens.len() + run.paired.len() <= run.begins);
            if run.rows > 0 {
                let v: Result<Vec<Vec<serde_json::Value>>, _> = serde_json::from_slice(&run.ends);
                let v = v.map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(v.len(), run.rows);
                prop_assert!(v.iter().all(|r| r.len() == COLUMNS.len()));
            }
        }
    }
}
