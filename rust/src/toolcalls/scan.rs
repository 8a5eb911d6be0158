//! The scanner shared by the family grammars (a leaf: it knows no family;
//! `grammar` picks the family's module).
//!
//! A scan reads a text from a grammar state (`At`) and reports what is settled:
//! content that is surely prose, calls that are complete and valid, and
//! whether the rest is still an unfinished call (hold it) or plain content.
//! With `fin` the text is known to be complete, so anything unfinished is
//! content. Offsets all sit on ASCII bytes (markers, brackets, whitespace),
//! hence on `char` boundaries.

use super::call::ToolCall;
use super::json::{call_from_json, Extent, JsonScan};

/// Where in a family's grammar a text starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum At {
    /// Start of the message: prose or a call may follow.
    #[default]
    Begin,
    /// Inside prose (Qwen, Mistral): only the family's marker can start calls.
    Content,
    /// After a `<tool_call>` block (Qwen).
    Tagged,
    /// After a bare JSON call (Llama, tag-less Qwen).
    Bare,
    /// After an element of a Mistral call array.
    InArray,
    /// After the Mistral array's `]`.
    Closed,
}

pub(crate) struct Cx<'a> {
    pub text: &'a str,
    pub names: &'a [String],
    /// The text is complete: nothing more will be appended.
    pub fin: bool,
    pub json: &'a mut JsonScan,
}

impl Cx<'_> {
    pub fn byte(&self, pos: usize) -> Option<u8> {
        self.text.as_bytes().get(pos).copied()
    }
    pub fn len(&self) -> usize {
        self.text.len()
    }
}

pub(crate) struct Scan {
    /// `text[..content_end]` is prose before the calls (trailing blanks excluded).
    pub content_end: usize,
    pub calls: Vec<ToolCall>,
    /// Everything before this offset is settled (content or calls).
    pub settled: usize,
    /// The grammar state at `settled`.
    pub at: At,
    /// `text[settled..]` is plain content, not a call.
    pub rest_is_content: bool,
    start: At,
}

impl Scan {
    pub fn new(start: At) -> Self {
        Self {
            content_end: 0,
            calls: Vec::new(),
            settled: 0,
            at: start,
            rest_is_content: false,
            start,
        }
    }

    pub fn push(&mut self, call: ToolCall, end: usize, at: At) {
        self.calls.push(call);
        self.settled = end;
        self.at = at;
    }

    /// The rest is blanks, separators or end markers: nothing to hold, but at
    /// the end of a message with no call at all the text is content.
    pub fn idle(mut self, cx: &Cx) -> Self {
        if cx.fin && self.calls.is_empty() && matches!(self.start, At::Begin | At::Content) {
            self.rest_is_content = true;
        }
        self
    }

    /// The rest is an unfinished call: hold it, or give it up as content at the end.
    pub fn need(mut self, cx: &Cx) -> Self {
        self.rest_is_content |= cx.fin;
        self
    }

    /// The rest cannot be a call.
    pub fn content(mut self) -> Self {
        self.rest_is_content = true;
        self
    }
}

pub(crate) fn ws(text: &str, mut pos: usize) -> usize {
    while matches!(text.as_bytes().get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

pub(crate) enum Lit {
    /// The literal is there; its end offset.
    Yes(usize),
    /// The text ends with a proper prefix of the literal (or is at its end).
    Partial,
    No,
}

pub(crate) fn lit(text: &str, pos: usize, lit: &str) -> Lit {
    let rest = text.as_bytes().get(pos..).unwrap_or_default();
    if rest.starts_with(lit.as_bytes()) {
        Lit::Yes(pos + lit.len())
    } else if lit.as_bytes().starts_with(rest) {
        Lit::Partial
    } else {
        Lit::No
    }
}

/// Skip blanks, `seps` bytes and end markers; `None` when the text ends inside
/// a marker (wait for more).
pub(crate) fn skip(text: &str, mut pos: usize, seps: &[u8], markers: &[&str]) -> Option<usize> {
    'outer: loop {
        pos = ws(text, pos);
        match text.as_bytes().get(pos) {
            None => return Some(pos),
            Some(b) if seps.contains(b) => {
                pos += 1;
                continue;
            }
            Some(_) => {}
        }
        for m in markers {
            match lit(text, pos, m) {
                Lit::Yes(end) => {
                    pos = end;
                    continue 'outer;
                }
                Lit::Partial => return None,
                Lit::No => {}
            }
        }
        return Some(pos);
    }
}

pub(crate) enum Step {
    Done(ToolCall, usize),
    Need,
    Bad,
}

/// A JSON call object starting at `pos` (which holds `{`).
pub(crate) fn object_call(cx: &mut Cx, pos: usize) -> Step {
    match cx.json.extent(cx.text.as_bytes(), pos) {
        Extent::Incomplete => Step::Need,
        Extent::Invalid => Step::Bad,
        Extent::Complete(end) => match cx
            .text
            .get(pos..end)
            .and_then(|t| call_from_json(t, cx.names))
        {
            Some(call) => Step::Done(call, end),
            None => Step::Bad,
        },
    }
}

/// Prose until `marker` (Qwen's `<tool_call>`, Mistral's `[TOOL_CALLS]`), then
/// `calls(cx, scan, marker_offset)`. Blanks before the marker, and a partial
/// marker at the end of an open text, are held back rather than settled.
pub(crate) fn content_then(
    cx: &mut Cx,
    mut s: Scan,
    marker: &str,
    calls: impl FnOnce(&mut Cx, Scan, usize) -> Scan,
) -> Scan {
    let text = cx.text;
    let (cut, found) = match text.find(marker) {
        Some(i) => (i, true),
        None if cx.fin => (text.len(), false),
        None => (text.len() - partial_suffix(text, marker), false),
    };
    let prose = text.get(..cut).unwrap_or_default();
    s.content_end = if found || !cx.fin {
        prose.trim_end().len()
    } else {
        cut
    };
    s.settled = s.content_end;
    s.at = At::Content;
    if found {
        calls(cx, s, cut)
    } else {
        s
    }
}

/// Length of the longest proper prefix of `marker` that ends `text`.
fn partial_suffix(text: &str, marker: &str) -> usize {
    (1..marker.len())
        .rev()
        .find(|&k| marker.get(..k).is_some_and(|p| text.ends_with(p)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        assert!(matches!(lit("ab<tool", 2, "<tool_call>"), Lit::Partial));
        assert!(matches!(
            lit("ab<tool_call>x", 2, "<tool_call>"),
            Lit::Yes(13)
        ));
        assert!(matches!(lit("ab<toop", 2, "<tool_call>"), Lit::No));
        assert!(matches!(lit("ab", 2, "<tool_call>"), Lit::Partial));
    }

    #[test]
    fn skipping_separators_and_markers() {
        assert_eq!(skip(" ;\n<|eot_id|> x", 0, b";", &["<|eot_id|>"]), Some(14));
        assert_eq!(skip(" <|eot", 0, b";", &["<|eot_id|>"]), None);
        assert_eq!(skip("  ", 0, b";", &[]), Some(2));
    }

    #[test]
    fn partial_marker_suffix() {
        assert_eq!(partial_suffix("hello <tool_c", "<tool_call>"), 7);
        assert_eq!(partial_suffix("hello <", "<tool_call>"), 1);
        assert_eq!(partial_suffix("hello", "<tool_call>"), 0);
        assert_eq!(partial_suffix("x [TOOL", "[TOOL_CALLS]"), 5);
    }
}
