//! Qwen 2.5 (Hermes-style) tool calls, per Qwen's chat template: optional
//! prose, then one or more `<tool_call>\n{"name": "fn", "arguments": {...}}\n</tool_call>`
//! blocks; prose before the first block stays content. When the tags were
//! dropped (they are special tokens in some Qwen tokenizers) the message may
//! be bare JSON call object(s) instead.

use super::scan::{content_then, lit, object_call, skip, ws, At, Cx, Lit, Scan, Step};

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";
const END: [&str; 2] = ["<|im_end|>", "<|endoftext|>"];

pub(crate) fn scan(cx: &mut Cx, at: At) -> Scan {
    let s = Scan::new(at);
    match at {
        At::Begin => {
            let p = ws(cx.text, 0);
            match cx.byte(p) {
                None => s.idle(cx),
                Some(b'{') => bare(cx, s, p),
                Some(_) => content_then(cx, s, OPEN, tagged),
            }
        }
        At::Content => content_then(cx, s, OPEN, tagged),
        At::Bare => bare(cx, s, 0),
        At::Tagged => tagged(cx, s, 0),
        At::InArray | At::Closed => s.content(),
    }
}

fn tagged(cx: &mut Cx, mut s: Scan, mut pos: usize) -> Scan {
    loop {
        pos = match skip(cx.text, pos, b"", &END) {
            Some(p) => p,
            None => return s.need(cx),
        };
        if pos == cx.len() {
            return s.idle(cx);
        }
        let open = match lit(cx.text, pos, OPEN) {
            Lit::Yes(end) => ws(cx.text, end),
            Lit::Partial => return s.need(cx),
            Lit::No => return s.content(),
        };
        match cx.byte(open) {
            None => return s.need(cx),
            Some(b'{') => {}
            Some(_) => return s.content(),
        }
        let (call, end) = match object_call(cx, open) {
            Step::Done(call, end) => (call, end),
            Step::Need => return s.need(cx),
            Step::Bad => return s.content(),
        };
        let close = ws(cx.text, end);
        pos = match lit(cx.text, close, CLOSE) {
            Lit::Yes(after) => after,
            // A message that ends right after the JSON lost only its tag.
            Lit::Partial if cx.fin && close == cx.len() => close,
            Lit::Partial => return s.need(cx),
            Lit::No => return s.content(),
        };
        s.push(call, pos, At::Tagged);
    }
}

fn bare(cx: &mut Cx, mut s: Scan, mut pos: usize) -> Scan {
    loop {
        pos = match skip(cx.text, pos, b"", &END) {
            Some(p) => p,
            None => return s.need(cx),
        };
        match cx.byte(pos) {
            None => return s.idle(cx),
            Some(b'{') => {}
            Some(_) => return s.content(),
        }
        match object_call(cx, pos) {
            Step::Done(call, end) => {
                s.push(call, end, At::Bare);
                pos = end;
            }
            Step::Need => return s.need(cx),
            Step::Bad => return s.content(),
        }
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
        parse(ChatFamily::Qwen2, text, &names()).map(|Parsed { content, calls }| {
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
    fn template_format() {
        let t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        assert_eq!(parsed(t), Some((None, vec![weather("Paris")])));
        // With the end-of-turn token left in.
        let t = format!("{t}<|im_end|>");
        assert_eq!(parsed(&t), Some((None, vec![weather("Paris")])));
    }

    #[test]
    fn several_blocks() {
        let t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n\
                 <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        assert_eq!(
            parsed(t),
            Some((None, vec![weather("Paris"), weather("Oslo")]))
        );
    }

    #[test]
    fn content_then_call() {
        let t = "Let me check the weather for you.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        let want = Some((
            Some("Let me check the weather for you.".to_owned()),
            vec![weather("Paris")],
        ));
        assert_eq!(parsed(t), want);
    }

    #[test]
    fn bare_json_without_tags() {
        let t = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}";
        assert_eq!(parsed(t), Some((None, vec![weather("Paris")])));
        let t = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n";
        assert_eq!(
            parsed(t),
            Some((None, vec![weather("Paris"), weather("Oslo")]))
        );
    }

    #[test]
    fn missing_close_tag_at_the_very_end() {
        let t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n";
        assert_eq!(parsed(t), Some((None, vec![weather("Paris")])));
    }

    #[test]
    fn not_calls() {
        assert_eq!(parsed("Paris is sunny today."), None);
        assert_eq!(
            parsed("<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>"),
            None
        );
        assert_eq!(parsed("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>"), None);
        assert_eq!(
            parsed("<tool_call>\nget_weather(city='Paris')\n</tool_call>"),
            None
        );
        // Prose before bare JSON is not the template's format.
        assert_eq!(
            parsed("Sure: {\"name\": \"get_weather\", \"arguments\": {}}"),
            None
        );
        // Bad second block spoils the message.
        let t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"nope\", \"arguments\": {}}\n</tool_call>";
        assert_eq!(parsed(t), None);
        assert_eq!(parsed("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call> and more"), None);
        assert_eq!(parsed("{\"answer\": 42}"), None);
        assert_eq!(parsed("I use <tool_call> tags"), None);
    }
}
