//! Mistral Small 3 (tekken v7) tool calls, per Mistral's chat template:
//! `[TOOL_CALLS][{"name": "fn", "arguments": {...}, "id": "abc123XYZ"}]`,
//! arguments an object or a JSON string. `[TOOL_CALLS]` is a special token, so
//! by default only the array reaches us; when the token is there, prose before
//! it stays content.

use super::scan::{content_then, lit, object_call, skip, ws, At, Cx, Lit, Scan, Step};

const MARKER: &str = "[TOOL_CALLS]";
const END: [&str; 1] = ["</s>"];

pub(crate) fn scan(cx: &mut Cx, at: At) -> Scan {
    let s = Scan::new(at);
    match at {
        At::Begin => {
            let p = ws(cx.text, 0);
            match (cx.byte(p), lit(cx.text, p, MARKER)) {
                (None, _) => s.idle(cx),
                // A bare array; `[TOOL_CALLS]` itself starts with `[` too.
                (Some(b'['), Lit::No) => array(cx, s, p),
                _ => content_then(cx, s, MARKER, after_marker),
            }
        }
        At::Content => content_then(cx, s, MARKER, after_marker),
        At::InArray => elements(cx, s, 0, false),
        At::Closed => closed(cx, s, 0),
        At::Tagged | At::Bare => s.content(),
    }
}

fn after_marker(cx: &mut Cx, s: Scan, marker_at: usize) -> Scan {
    array(cx, s, marker_at + MARKER.len())
}

/// `[` then the first element.
fn array(cx: &mut Cx, s: Scan, pos: usize) -> Scan {
    let p = ws(cx.text, pos);
    match cx.byte(p) {
        None => return s.need(cx),
        Some(b'[') => {}
        Some(_) => return s.content(),
    }
    elements(cx, s, p + 1, true)
}

/// Elements and separators up to `]`; `first` when no element was read yet.
fn elements(cx: &mut Cx, mut s: Scan, mut pos: usize, mut first: bool) -> Scan {
    loop {
        let mut p = ws(cx.text, pos);
        if !first {
            match cx.byte(p) {
                // A message cut right after an element lost only its `]`.
                None => return s.idle(cx),
                Some(b',') => p = ws(cx.text, p + 1),
                Some(b']') => {
                    s.settled = p + 1;
                    s.at = At::Closed;
                    return closed(cx, s, p + 1);
                }
                Some(_) => return s.content(),
            }
        }
        match cx.byte(p) {
            None => return s.need(cx),
            Some(b'{') => {}
            Some(_) => return s.content(), // includes `[]`: no call at all
        }
        match object_call(cx, p) {
            Step::Done(call, end) => {
                s.push(call, end, At::InArray);
                pos = end;
                first = false;
            }
            Step::Need => return s.need(cx),
            Step::Bad => return s.content(),
        }
    }
}

fn closed(cx: &mut Cx, s: Scan, pos: usize) -> Scan {
    match skip(cx.text, pos, b"", &END) {
        None => s.need(cx),
        Some(p) if p == cx.len() => s.idle(cx),
        Some(_) => s.content(),
    }
}

#[cfg(test)]
mod tests {
    use crate::toolcalls::{parse, ChatFamily, Parsed, ToolCall};

    fn names() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    type Calls = Vec<(String, String)>;

    fn parsed(text: &str) -> Option<(Option<String>, Calls)> {
        parse(ChatFamily::Mistral, text, &names()).map(|Parsed { content, calls }| {
            (
                content,
                calls
                    .into_iter()
                    .map(|ToolCall { name, arguments }| (name, arguments))
                    .collect(),
            )
        })
    }

    fn weather(city: &str) -> (String, String) {
        ("get_weather".to_owned(), format!(r#"{{"city":"{city}"}}"#))
    }

    #[test]
    fn template_format_with_and_without_token() {
        let arr = r#"[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}]"#;
        assert_eq!(parsed(arr), Some((None, vec![weather("Paris")])));
        assert_eq!(
            parsed(&format!("[TOOL_CALLS]{arr}</s>")),
            Some((None, vec![weather("Paris")]))
        );
        assert_eq!(
            parsed(&format!("  [TOOL_CALLS] {arr}\n")),
            Some((None, vec![weather("Paris")]))
        );
    }

    #[test]
    fn arguments_as_json_string() {
        let t = r#"[TOOL_CALLS][{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]"#;
        assert_eq!(parsed(t), Some((None, vec![weather("Paris")])));
    }

    #[test]
    fn several_calls() {
        let t = r#"[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {}}]"#;
        let want = vec![weather("Paris"), ("get_time".to_owned(), "{}".to_owned())];
        assert_eq!(parsed(t), Some((None, want)));
    }

    #[test]
    fn prose_before_the_token() {
        let t =
            r#"Checking. [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]"#;
        assert_eq!(
            parsed(t),
            Some((Some("Checking.".to_owned()), vec![weather("Paris")]))
        );
    }

    #[test]
    fn not_calls() {
        assert_eq!(parsed("[1] First, ..."), None);
        assert_eq!(parsed("[]"), None);
        assert_eq!(
            parsed(r#"[{"name": "format_disk", "arguments": {}}]"#),
            None
        );
        assert_eq!(
            parsed(
                r#"[{"name": "get_weather", "arguments": {}}, {"name": "nope", "arguments": {}}]"#
            ),
            None
        );
        assert_eq!(
            parsed(r#"[{"name": "get_weather", "arguments": {"city": "Paris"}]"#),
            None
        );
        assert_eq!(
            parsed(r#"[{"name": "get_weather", "arguments": {}}] extra"#),
            None
        );
        assert_eq!(parsed(r#"{"name": "get_weather", "arguments": {}}"#), None);
        assert_eq!(parsed("Plain answer."), None);
        assert_eq!(parsed("[TOOL_CALLS]"), None);
    }
}
