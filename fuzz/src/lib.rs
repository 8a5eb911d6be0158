//! The fuzz targets: each takes the fuzzer's bytes, runs one parser of the core on
//! them and panics when an oracle fails (a panic, or an abort, is what libFuzzer
//! reports). The same functions replay the saved corpus in `cargo test`
//! (tests/corpus.rs), so every input the fuzzer kept, and every crash it found,
//! runs in the test command.
//!
//! Oracles beyond "no panic": a parser fed its input in pieces gives what it gives
//! for the input in one piece (the SSE parser, the stream relay, the tool-call
//! detector); what the relay writes is SSE whose events are JSON; the hand-written
//! pre-tokenizers cut text exactly where the regex they replace does.

use std::sync::OnceLock;

use _core::relay::{rewrite_general, rewrite_response, Kind, Meta, StreamRelay, Tools};
use _core::spool_scan::{Run, Shape};
use _core::sse::SseParser;
use _core::tokens::Splitter;
use _core::toolcalls::{parse, ChatFamily, Detector, Piece, ToolCall};

/// `data` as (a control byte, a second control byte, the rest).
fn controls(data: &[u8]) -> (u8, u8, &[u8]) {
    match data {
        [a, b, rest @ ..] => (*a, *b, rest),
        [a] => (*a, 0, &[]),
        [] => (0, 0, &[]),
    }
}

/// Cut points for `len` bytes: every `step` bytes (1..=16).
fn pieces(len: usize, control: u8) -> Vec<(usize, usize)> {
    let step = usize::from(control % 16) + 1;
    (0..len)
        .step_by(step)
        .map(|at| (at, (at + step).min(len)))
        .collect()
}

fn sse_events(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, bool) {
    let mut p = SseParser::new();
    let mut events = Vec::new();
    for c in chunks {
        if p.feed(c, |e| events.push(e.to_vec())).is_err() {
            return (events, false);
        }
    }
    p.finish(|e| events.push(e.to_vec()));
    (events, true)
}

/// SSE framing: the same events whether the body comes whole or in pieces.
pub fn sse(data: &[u8]) {
    let (control, _, body) = controls(data);
    let whole = sse_events(&[body]);
    let split: Vec<&[u8]> = pieces(body.len(), control)
        .into_iter()
        .map(|(a, b)| &body[a..b])
        .collect();
    assert_eq!(
        whole,
        sse_events(&split),
        "events depend on how the body was cut"
    );
}

fn family(bits: u8) -> Option<ChatFamily> {
    match bits % 4 {
        1 => Some(ChatFamily::Llama3),
        2 => Some(ChatFamily::Qwen2),
        3 => Some(ChatFamily::Mistral),
        _ => None,
    }
}

fn names() -> Vec<String> {
    vec!["get_weather".into(), "get_time".into()]
}

fn meta() -> Meta {
    Meta {
        public_model: "gpt-4o".into(),
        response_id: "chatcmpl-fuzz".into(),
        created: 1_700_000_000,
        one_tool_call: false,
    }
}

fn kind(bit: u8) -> Kind {
    if bit & 1 == 0 {
        Kind::Chat
    } else {
        Kind::Completion
    }
}

fn relay(control: u8, chunks: &[&[u8]]) -> Vec<u8> {
    let tools = Tools::new(family(control >> 2), names());
    let mut r = StreamRelay::new(kind(control), &meta(), control & 2 != 0, tools);
    let mut out = Vec::new();
    for c in chunks {
        out.extend(r.feed(c));
    }
    out.extend(r.finish());
    out
}

/// Response rewriting, streamed: what the client gets is SSE whose every event is
/// `[DONE]` or a JSON object, and it does not depend on how the worker's bytes
/// were cut.
pub fn relay_stream(data: &[u8]) {
    let (control, cut, body) = controls(data);
    let whole = relay(control, &[body]);
    let split: Vec<&[u8]> = pieces(body.len(), cut)
        .into_iter()
        .map(|(a, b)| &body[a..b])
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&relay(control, &split)),
        "the relay's output depends on how the upstream bytes were cut"
    );
    let (events, ok) = sse_events(&[&whole]);
    assert!(ok);
    for e in events {
        if e != b"[DONE]" {
            let v: serde_json::Value = serde_json::from_slice(&e).unwrap_or_else(|err| {
                panic!(
                    "relayed event is not JSON ({err}): {:?}",
                    String::from_utf8_lossy(&e)
                )
            });
            assert!(v.is_object(), "relayed event is not an object: {v}");
        }
    }
}

/// Response rewriting, whole: an accepted body becomes a JSON object, and the fast
/// path (taken without tools) answers exactly as the general one.
pub fn relay_response(data: &[u8]) {
    let (control, _, body) = controls(data);
    let tools = Tools::new(family(control >> 2), names());
    if tools.is_none() {
        let got = rewrite_response(body, kind(control), &meta(), None);
        let want = rewrite_general(body, kind(control), &meta(), None);
        match (&got, &want) {
            (Ok(g), Ok(w)) => assert!(
                g.body == w.body
                    && (g.prompt_tokens, g.completion_tokens, g.finish_reason)
                        == (w.prompt_tokens, w.completion_tokens, w.finish_reason),
                "fast path differs: {:?} vs {:?}",
                String::from_utf8_lossy(&g.body),
                String::from_utf8_lossy(&w.body)
            ),
            (Err(g), Err(w)) => assert_eq!(g, w),
            _ => panic!("fast path differs: {got:?} vs {want:?}"),
        }
    }
    if let Ok(out) = rewrite_response(body, kind(control), &meta(), tools.as_ref()) {
        let v: serde_json::Value = serde_json::from_slice(&out.body).unwrap_or_else(|err| {
            panic!(
                "rewritten body is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&out.body)
            )
        });
        assert!(v.is_object(), "rewritten body is not an object: {v}");
    }
}

/// The detector's pieces, accumulated as a client would: (content, calls).
fn detect(family: ChatFamily, text: &str, cuts: &[(usize, usize)]) -> (String, Vec<ToolCall>) {
    let names = names();
    let mut d = Detector::new(family);
    let mut out = Vec::new();
    let mut prev = 0;
    for &(_, end) in cuts {
        if end > prev && text.is_char_boundary(end) {
            d.push(&text[prev..end], &names, &mut out);
            prev = end;
        }
    }
    d.push(&text[prev..], &names, &mut out);
    d.finish(&names, &mut out);
    let mut content = String::new();
    let mut calls = Vec::new();
    for piece in out {
        match piece {
            Piece::Content(c) => content.push_str(&c),
            Piece::Call(c) => calls.push(c),
        }
    }
    (content, calls)
}

fn check_calls(calls: &[ToolCall]) {
    let names = names();
    for c in calls {
        assert!(names.contains(&c.name), "a call to an unknown tool: {c:?}");
        let args: serde_json::Value = serde_json::from_str(&c.arguments)
            .unwrap_or_else(|err| panic!("arguments are not JSON ({err}): {c:?}"));
        assert!(args.is_object(), "arguments are not an object: {c:?}");
    }
}

/// Tool-call recognition for one family: the whole-message parser and the streaming
/// detector; calls name a known tool with JSON-object arguments, and the detector
/// finds the same whatever the cut of the deltas.
fn toolcalls(family: ChatFamily, data: &[u8]) {
    let (cut, _, body) = controls(data);
    let Ok(text) = std::str::from_utf8(body) else {
        return; // deltas are strings
    };
    if let Some(parsed) = parse(family, text, &names()) {
        check_calls(&parsed.calls);
    }
    let whole = detect(family, text, &[]);
    check_calls(&whole.1);
    let split = detect(family, text, &pieces(text.len(), cut));
    assert_eq!(
        whole, split,
        "the detector depends on how the deltas were cut"
    );
}

pub fn toolcalls_llama3(data: &[u8]) {
    toolcalls(ChatFamily::Llama3, data);
}

pub fn toolcalls_qwen2(data: &[u8]) {
    toolcalls(ChatFamily::Qwen2, data);
}

pub fn toolcalls_mistral(data: &[u8]) {
    toolcalls(ChatFamily::Mistral, data);
}

const PATTERNS: [&str; 3] = [
    _core::tokens::LLAMA3_PATTERN,
    _core::tokens::QWEN_PATTERN,
    _core::tokens::TEKKEN_PATTERN,
];

/// Each known pattern's hand-written splitter and its regex, compiled once.
fn splitters() -> &'static [(Splitter, fancy_regex::Regex)] {
    static ALL: OnceLock<Vec<(Splitter, fancy_regex::Regex)>> = OnceLock::new();
    ALL.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|p| {
                let hand = Splitter::new(p).unwrap_or_else(|e| panic!("{e}"));
                let re = fancy_regex::Regex::new(p).unwrap_or_else(|e| panic!("{e}"));
                (hand, re)
            })
            .collect()
    })
}

/// The pre-tokenizers: each hand-written splitter cuts exactly where its regex
/// does, and the pieces cover the text.
pub fn token_split(data: &[u8]) {
    let (which, _, body) = controls(data);
    let text = String::from_utf8_lossy(body);
    let (hand, re) = &splitters()[usize::from(which) % PATTERNS.len()];
    assert!(hand.is_hand_written());
    let mut got = Vec::new();
    hand.for_each(&text, |p| got.push(p));
    assert_eq!(got.concat(), text, "the pieces do not cover the text");
    let mut want = Vec::new();
    for m in re.find_iter(&text) {
        match m {
            Ok(m) => want.push(m.as_str()),
            Err(_) => return, // the regex gave up (backtrack limit): nothing to compare
        }
    }
    assert_eq!(
        got, want,
        "the hand-written splitter disagrees with its regex"
    );
}

const SPOOL_COLUMNS: &[&str] = &["event_id", "version", "day", "ttft_ms", "batch_id"];
const SPOOL_BEGIN: &[u8] = b"{\"event_id\":\"";

/// Whether `line` is a plain begin or end (version 1 or 3) by a plain reading: the
/// prefix, an id of ASCII without quote or backslash, then the version mark.
fn plain_spool_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(SPOOL_BEGIN) else {
        return false;
    };
    let Some(q) = rest.iter().position(|&b| b == b'"') else {
        return false;
    };
    let (id, tail) = rest.split_at(q);
    id.is_ascii()
        && !id.contains(&b'\\')
        && (tail.starts_with(b"\",\"version\":1,") || tail.starts_with(b"\",\"version\":3,"))
}

/// The values of a run's ends between its brackets (empty for none).
fn spool_rows(run: &Run<'_>) -> Vec<u8> {
    match run.ends.len() {
        0 => Vec::new(),
        n => run.ends[1..n - 1].to_vec(),
    }
}

/// The usage spool scan (`spool_scan.rs`): it stops at a line start, takes only plain
/// lines, hands over what adds up, and a run cut at any end and resumed gives what
/// one run gives.
pub fn spool_scan(data: &[u8]) {
    let (a, b, body) = controls(data);
    let shape = Shape::new(SPOOL_COLUMNS, 1, 3).expect("event_id and version lead");
    let start = usize::from(b % 64).min(body.len());
    let whole = shape.scan(body, start, usize::MAX);
    assert!(whole.stop >= start && whole.stop <= body.len());
    assert!(
        whole.stop == start || body[whole.stop - 1] == b'\n',
        "not at a line start"
    );
    assert_eq!(whole.rows, whole.pops.len() + whole.paired.len());
    assert!(whole.opens.len() + whole.paired.len() <= whole.begins);
    let taken = &body[start..whole.stop];
    for line in taken.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        assert!(
            plain_spool_line(line),
            "took a line that is not plain: {line:?}"
        );
    }
    assert_eq!(
        whole.begins + whole.rows,
        taken.iter().filter(|&&c| c == b'\n').count(),
        "every line of the run is a begin or an end"
    );
    if let Ok(rows) = serde_json::from_slice::<Vec<Vec<serde_json::Value>>>(&whole.ends) {
        assert_eq!(rows.len(), whole.rows);
        assert!(rows.iter().all(|r| r.len() == SPOOL_COLUMNS.len()));
    }
    // cut after `limit` ends, then resume where the first run stopped
    let limit = usize::from(a % 8);
    let first = shape.scan(body, start, limit);
    assert!(first.rows <= limit);
    let second = shape.scan(body, first.stop, usize::MAX);
    assert_eq!(second.stop, whole.stop, "a resumed run stops elsewhere");
    assert_eq!(first.rows + second.rows, whole.rows);
    assert_eq!(first.begins + second.begins, whole.begins);
    let mut joined = spool_rows(&first);
    let rest = spool_rows(&second);
    if !joined.is_empty() && !rest.is_empty() {
        joined.push(b',');
    }
    joined.extend_from_slice(&rest);
    assert_eq!(joined, spool_rows(&whole), "the ends differ once cut");
}

/// A fuzz target: the fuzzer's bytes in, a panic when an oracle fails.
pub type Target = fn(&[u8]);

/// Every target by name (the corpus replay and scripts/fuzz use these names).
pub const TARGETS: &[(&str, Target)] = &[
    ("sse", sse),
    ("relay_stream", relay_stream),
    ("relay_response", relay_response),
    ("toolcalls_llama3", toolcalls_llama3),
    ("toolcalls_qwen2", toolcalls_qwen2),
    ("toolcalls_mistral", toolcalls_mistral),
    ("token_split", token_split),
    ("spool_scan", spool_scan),
];
