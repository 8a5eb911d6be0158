//! Tool-call recognition over a streamed message, one detector per choice.
//!
//! Text that could still become a call is held back; as soon as it cannot, it
//! is released as content. Each call is released once its JSON is complete
//! and valid. Held text is cut at every settled point (after content, after a
//! call), so a scan only reads the unsettled tail.
//!
//! One difference from [`super::parse`]: a call, once released, cannot be
//! taken back, so when a later part of the message turns out not to be a
//! call, that part becomes content next to the calls already sent, where the
//! whole-message parser would have made everything content.

use super::call::ToolCall;
use super::grammar::scan;
use super::json::JsonScan;
use super::scan::{At, Cx};
use crate::family::ChatFamily;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Content(String),
    Call(ToolCall),
}

#[derive(Debug)]
pub struct Detector {
    family: ChatFamily,
    held: String,
    at: At,
    json: JsonScan,
    /// Decided: the rest of the message is plain content.
    passthrough: bool,
}

impl Detector {
    pub fn new(family: ChatFamily) -> Self {
        Self {
            family,
            held: String::new(),
            at: At::Begin,
            json: JsonScan::default(),
            passthrough: false,
        }
    }

    /// The next piece of the message; what can be released goes to `out`.
    pub fn push(&mut self, text: &str, names: &[String], out: &mut Vec<Piece>) {
        if self.passthrough {
            if !text.is_empty() {
                out.push(Piece::Content(text.to_owned()));
            }
            return;
        }
        self.held.push_str(text);
        self.step(names, false, out);
    }

    /// The message is complete: release calls and give up what is left as content.
    pub fn finish(&mut self, names: &[String], out: &mut Vec<Piece>) {
        if !self.passthrough {
            self.step(names, true, out);
            self.held.clear();
            self.passthrough = true;
        }
    }

    fn step(&mut self, names: &[String], fin: bool, out: &mut Vec<Piece>) {
        let s = {
            let mut cx = Cx {
                text: &self.held,
                names,
                fin,
                json: &mut self.json,
            };
            scan(self.family, &mut cx, self.at)
        };
        if let Some(c) = self.held.get(..s.content_end).filter(|c| !c.is_empty()) {
            out.push(Piece::Content(c.to_owned()));
        }
        out.extend(s.calls.into_iter().map(Piece::Call));
        if s.rest_is_content || !self.held.is_char_boundary(s.settled) {
            if let Some(rest) = self.held.get(s.settled..).filter(|r| !r.is_empty()) {
                out.push(Piece::Content(rest.to_owned()));
            }
            self.held.clear();
            self.passthrough = true;
            return;
        }
        if s.settled > 0 {
            self.held.drain(..s.settled);
            self.json = JsonScan::default(); // its offsets pointed into the old text
            self.at = s.at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolcalls::{parse, Parsed};
    use proptest::prelude::*;

    fn names() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    /// Feed `text` in pieces cut at `cuts`; return (content, calls) as a client would accumulate them.
    fn stream(
        family: ChatFamily,
        text: &str,
        cuts: &[usize],
    ) -> (String, Vec<ToolCall>, Vec<Piece>) {
        let names = names();
        let mut d = Detector::new(family);
        let mut out = Vec::new();
        let mut prev = 0;
        let mut pts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
        pts.sort_unstable();
        for p in pts.into_iter().chain([text.len()]) {
            // Cut on char boundaries only: deltas are strings.
            let p = (p..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            if p < prev {
                continue;
            }
            d.push(&text[prev..p], &names, &mut out);
            prev = p;
        }
        d.finish(&names, &mut out);
        let mut content = String::new();
        let mut calls = Vec::new();
        for piece in &out {
            match piece {
                Piece::Content(c) => content.push_str(c),
                Piece::Call(c) => calls.push(c.clone()),
            }
        }
        (content, calls, out)
    }

    const FIXTURES: &[(ChatFamily, &str)] = &[
        (ChatFamily::Llama3, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eom_id|>"),
        (ChatFamily::Llama3, "\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Z\u{fc}rich \u{1F600}\"}}; {\"name\": \"get_time\", \"parameters\": {}}"),
        (ChatFamily::Llama3, "<function=get_time>{\"tz\": \"UTC\"}</function>"),
        (ChatFamily::Llama3, "The answer is {\"name\": \"get_weather\"}."),
        (ChatFamily::Llama3, "{\"name\": \"nope\", \"parameters\": {}}"),
        (ChatFamily::Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par"),
        (ChatFamily::Llama3, "  <b>not a call</b>"),
        (ChatFamily::Qwen2, "Let me check.\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"),
        (ChatFamily::Qwen2, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"),
        (ChatFamily::Qwen2, "Plain prose with a < sign and <tool_c and \u{e9}t\u{e9}.\n"),
        (ChatFamily::Qwen2, "Text\n<tool_call>\n{\"name\": \"rm\", \"arguments\": {}}\n</tool_call>"),
        (ChatFamily::Qwen2, "{\"answer\": 42}"),
        (ChatFamily::Mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abcdefghi\"}, {\"name\": \"get_time\", \"arguments\": \"{}\"}]</s>"),
        (ChatFamily::Mistral, "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]"),
        (ChatFamily::Mistral, "Sure. [TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]"),
        (ChatFamily::Mistral, "[1] First point, [2] second."),
        (ChatFamily::Mistral, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}"),
    ];

    #[test]
    fn whole_message_in_one_piece_matches_parse() {
        for &(family, text) in FIXTURES {
            let (content, calls, _) = stream(family, text, &[]);
            check_against_parse(family, text, &content, &calls);
        }
    }

    fn check_against_parse(family: ChatFamily, text: &str, content: &str, calls: &[ToolCall]) {
        match parse(family, text, &names()) {
            Some(Parsed {
                content: c,
                calls: want,
            }) => {
                assert_eq!(calls, want.as_slice(), "{text:?}");
                assert_eq!(content, c.unwrap_or_default(), "{text:?}");
            }
            None => {
                assert!(calls.is_empty(), "{text:?}");
                assert_eq!(content, text, "content must be the text unchanged");
            }
        }
    }

    #[test]
    fn prose_streams_without_waiting() {
        let names = names();
        let mut d = Detector::new(ChatFamily::Qwen2);
        let mut out = Vec::new();
        d.push("Hello", &names, &mut out);
        d.push(" world, ", &names, &mut out);
        // Trailing blanks are held (they may precede a marker), the rest is out.
        assert_eq!(
            out,
            [
                Piece::Content("Hello".into()),
                Piece::Content(" world,".into())
            ]
        );
        out.clear();
        d.push("<tool", &names, &mut out);
        assert!(out.is_empty(), "a partial marker is held");
        d.push("box>", &names, &mut out);
        assert_eq!(out, [Piece::Content(" <toolbox>".into())]);
    }

    #[test]
    fn llama_prose_is_released_at_first_letter() {
        let names = names();
        let mut d = Detector::new(ChatFamily::Llama3);
        let mut out = Vec::new();
        d.push("  ", &names, &mut out);
        assert!(out.is_empty());
        d.push("The", &names, &mut out);
        assert_eq!(out, [Piece::Content("  The".into())]);
    }

    #[test]
    fn each_call_released_when_complete() {
        let names = names();
        let mut d = Detector::new(ChatFamily::Mistral);
        let mut out = Vec::new();
        d.push(
            "[{\"name\": \"get_time\", \"arguments\": {}}",
            &names,
            &mut out,
        );
        assert_eq!(out.len(), 1, "first call released before the array closes");
        d.push(
            ", {\"name\": \"get_weather\", \"arguments\": {\"city\"",
            &names,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        d.push(": \"Oslo\"}}]", &names, &mut out);
        assert_eq!(out.len(), 2);
        d.finish(&names, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_later_bad_call_becomes_content_next_to_the_sent_one() {
        let t =
            "{\"name\": \"get_time\", \"parameters\": {}}; {\"name\": \"rm\", \"parameters\": {}}";
        let (content, calls, _) = stream(ChatFamily::Llama3, t, &[]);
        assert_eq!(calls.len(), 1);
        assert_eq!(content, "; {\"name\": \"rm\", \"parameters\": {}}");
    }

    proptest! {
        #[test]
        fn any_split_matches_parse(idx in 0..FIXTURES.len(), cuts in proptest::collection::vec(0usize..400, 0..25)) {
            let (family, text) = FIXTURES[idx];
            let (content, calls, _) = stream(family, text, &cuts);
            check_against_parse(family, text, &content, &calls);
        }
    }
}
