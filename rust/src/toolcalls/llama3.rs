//! Llama 3.1 / 3.2 / 3.3 JSON tool calling, per Meta's chat template:
//! `<|python_tag|>{"name": "fn", "parameters": {...}}` (the tag is optional,
//! "arguments" is accepted for "parameters"), several calls separated by `;`
//! or newlines, optionally ended by `<|eom_id|>` / `<|eot_id|>`; and the
//! custom-tool form `<function=fn>{...}</function>`. The whole message must be
//! calls: Llama writes no prose before them.

use super::call::ToolCall;
use super::json::object_json;
use super::scan::{lit, object_call, skip, ws, At, Cx, Lit, Scan, Step};

const PYTHON_TAG: &str = "<|python_tag|>";
const FUNCTION_OPEN: &str = "<function=";
const FUNCTION_CLOSE: &str = "</function>";
const END: [&str; 2] = ["<|eom_id|>", "<|eot_id|>"];

pub(crate) fn scan(cx: &mut Cx, at: At) -> Scan {
    let mut s = Scan::new(at);
    let mut pos = 0;
    if at == At::Begin {
        pos = ws(cx.text, pos);
        match lit(cx.text, pos, PYTHON_TAG) {
            Lit::Yes(end) => pos = end,
            Lit::Partial if pos < cx.len() => return s.need(cx),
            _ => {}
        }
    }
    loop {
        pos = match skip(cx.text, pos, b";", &END) {
            Some(p) => p,
            None => return s.need(cx),
        };
        let step = match cx.byte(pos) {
            None => return s.idle(cx),
            Some(b'{') => object_call(cx, pos),
            Some(b'<') => function_tag(cx, pos),
            Some(_) => Step::Bad,
        };
        match step {
            Step::Done(call, end) => {
                s.push(call, end, At::Bare);
                pos = end;
            }
            Step::Need => return s.need(cx),
            Step::Bad => return s.content(),
        }
    }
}

/// `<function=name>{...}</function>` at `pos`.
fn function_tag(cx: &mut Cx, pos: usize) -> Step {
    let name_at = match lit(cx.text, pos, FUNCTION_OPEN) {
        Lit::Yes(end) => end,
        Lit::Partial => return Step::Need,
        Lit::No => return Step::Bad,
    };
    let rest = cx.text.get(name_at..).unwrap_or_default();
    let Some(gt) = rest.find('>') else {
        // Hold the name only while it can still become one of the tools.
        let could_be = cx.names.iter().any(|n| n.starts_with(rest));
        return if could_be { Step::Need } else { Step::Bad };
    };
    let name = rest.get(..gt).unwrap_or_default();
    if !cx.names.iter().any(|n| n == name) {
        return Step::Bad;
    }
    let open = ws(cx.text, name_at + gt + 1);
    match cx.byte(open) {
        None => return Step::Need,
        Some(b'{') => {}
        Some(_) => return Step::Bad,
    }
    let end = match cx.json.extent(cx.text.as_bytes(), open) {
        super::json::Extent::Complete(end) => end,
        super::json::Extent::Incomplete => return Step::Need,
        super::json::Extent::Invalid => return Step::Bad,
    };
    let Some(arguments) = cx.text.get(open..end).and_then(object_json) else {
        return Step::Bad;
    };
    let call = ToolCall {
        name: name.to_owned(),
        arguments,
    };
    let close = ws(cx.text, end);
    match lit(cx.text, close, FUNCTION_CLOSE) {
        Lit::Yes(after) => Step::Done(call, after),
        // A message that ends right after the arguments lost only its tag.
        Lit::Partial if cx.fin && close == cx.len() => Step::Done(call, close),
        Lit::Partial => Step::Need,
        Lit::No => Step::Bad,
    }
}

#[cfg(test)]
mod tests {
    use crate::toolcalls::{parse, ChatFamily, Parsed, ToolCall};

    fn names() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    fn calls(text: &str) -> Option<Vec<(String, String)>> {
        parse(ChatFamily::Llama3, text, &names()).map(|Parsed { content, calls }| {
            assert_eq!(content, None, "llama writes no prose before calls");
            calls
                .into_iter()
                .map(|ToolCall { name, arguments }| (name, arguments))
                .collect()
        })
    }

    fn one(name: &str, args: &str) -> Option<Vec<(String, String)>> {
        Some(vec![(name.to_owned(), args.to_owned())])
    }

    #[test]
    fn template_format_with_special_tokens() {
        // What Llama 3.1 emits with skip_special_tokens off.
        let t = "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eom_id|>";
        assert_eq!(calls(t), one("get_weather", r#"{"city":"Paris"}"#));
        let t = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>";
        assert_eq!(calls(t), one("get_weather", r#"{"city":"Paris"}"#));
    }

    #[test]
    fn template_format_without_special_tokens() {
        // trtllm-serve's default: special tokens skipped, blanks around.
        let t = "\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n";
        assert_eq!(
            calls(t),
            one("get_weather", r#"{"city":"Paris","unit":"celsius"}"#)
        );
        let t = r#"{"name": "get_time", "arguments": {"tz": "UTC"}}"#;
        assert_eq!(calls(t), one("get_time", r#"{"tz":"UTC"}"#));
    }

    #[test]
    fn several_calls_by_semicolon_or_newline() {
        let t = r#"{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "parameters": {}}"#;
        let want = vec![
            ("get_weather".to_owned(), r#"{"city":"Paris"}"#.to_owned()),
            ("get_time".to_owned(), "{}".to_owned()),
        ];
        assert_eq!(calls(t), Some(want.clone()));
        let t = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}\n{\"name\": \"get_time\", \"parameters\": {}}";
        assert_eq!(calls(t), Some(want));
    }

    #[test]
    fn custom_tool_function_form() {
        let t = "<function=get_weather>{\"city\": \"Paris\"}</function>";
        assert_eq!(calls(t), one("get_weather", r#"{"city":"Paris"}"#));
        let t = "<|python_tag|><function=get_time>{}</function><|eom_id|>";
        assert_eq!(calls(t), one("get_time", "{}"));
        // The closing tag may be cut off by the stop token.
        assert_eq!(
            calls("<function=get_time>{\"tz\": \"CET\"}"),
            one("get_time", r#"{"tz":"CET"}"#)
        );
        assert_eq!(calls("<function=launch>{}</function>"), None);
    }

    #[test]
    fn not_calls() {
        assert_eq!(calls("The weather in Paris is sunny."), None);
        assert_eq!(
            calls(r#"{"name": "launch_missiles", "parameters": {}}"#),
            None
        );
        // One good call and one unknown name: the whole message is content.
        let t = r#"{"name": "get_weather", "parameters": {}}; {"name": "rm", "parameters": {}}"#;
        assert_eq!(calls(t), None);
        assert_eq!(
            calls(r#"{"name": "get_weather", "parameters": {"city": "Paris"}"#),
            None
        );
        assert_eq!(
            calls(r#"{"name": "get_weather", "parameters": {"city": Paris}}"#),
            None
        );
        assert_eq!(
            calls(r#"{"name": "get_weather", "parameters": {}} and then I said"#),
            None
        );
        assert_eq!(
            calls("Here: {\"name\": \"get_weather\", \"parameters\": {}}"),
            None
        );
        assert_eq!(calls("<|python_tag|>"), None);
        assert_eq!(calls("   "), None);
        assert_eq!(calls("<b>bold</b>"), None);
    }
}
