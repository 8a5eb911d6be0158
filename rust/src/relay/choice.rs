//! One choice of a streamed answer: the rules the SDKs rely on.
//!
//! - `role` only in the choice's first delta (added when the worker left it out),
//!   which also has `content` ("" unless it opens a tool call) and `refusal`, as OpenAI's;
//! - a tool call's `id`, `type` and `function.name` only in its first delta,
//!   later deltas carry `function.arguments` fragments only;
//! - text tool calls (when the family is known) held back and turned into
//!   `tool_calls`, with `finish_reason: "tool_calls"` instead of `stop`;
//! - every choice has `index`, `logprobs` (null if absent), `finish_reason`.

use serde_json::Value;

use super::json_out::{int, opt_str, str_lit, value};
use super::logprobs;
use super::map_finish_reason;
use super::upstream::{ChoiceIn, ToolCallIn};
use super::Tools;
use crate::family::ChatFamily;
use crate::toolcalls::{call_id_for, id_fits, Detector, Piece};

pub(crate) struct ChoiceState {
    pub index: u64,
    role_sent: bool,
    /// Tool-call indexes whose first delta went out.
    opened: Vec<u64>,
    detector: Option<Detector>,
    /// Decides the shape of the ids we mint (Mistral's templates want 9 alphanumerics).
    family: Option<ChatFamily>,
    /// `parallel_tool_calls: false`: calls after the first are dropped.
    one_call: bool,
    /// A call was dropped: its fragments that name no index are dropped too.
    dropping: bool,
    pub finish_reason: Option<&'static str>,
}

/// A tool-call delta to write.
struct CallDelta {
    index: u64,
    /// `Some` in the call's first delta only (with `type` and `name`).
    id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

/// What one chat choice of one chunk turns into.
#[derive(Default)]
struct DeltaOut {
    role: Option<String>,
    content: String,
    has_content: bool,
    reasoning: Option<String>,
    refusal: Option<String>,
    calls: Vec<CallDelta>,
}

impl ChoiceState {
    pub fn new(index: u64, tools: Option<&Tools>, one_call: bool) -> Self {
        Self {
            index,
            role_sent: false,
            opened: Vec::new(),
            detector: tools.map(|t| Detector::new(t.family)),
            family: tools.map(|t| t.family),
            one_call,
            dropping: false,
            finish_reason: None,
        }
    }

    /// Write a choice with nothing in it, so that indexes first appear in order.
    pub fn placeholder(&mut self, chat: bool, out: &mut Vec<u8>) {
        if chat {
            self.write_chat(DeltaOut::default(), None, None, out);
        } else {
            write_completion(self.index, "", None, None, out);
        }
    }

    /// Returns a finish reason that must go out in a chunk of its own (see `finish_only`).
    pub fn chat(
        &mut self,
        c: ChoiceIn,
        tools: Option<&Tools>,
        seed: &str,
        out: &mut Vec<u8>,
    ) -> Option<&'static str> {
        let delta = c.delta.unwrap_or_default();
        let mut d = DeltaOut {
            role: delta.role,
            ..DeltaOut::default()
        };
        let mut pieces = Vec::new();
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            match (&mut self.detector, tools) {
                (Some(det), Some(t)) => det.push(&text, &t.names, &mut pieces),
                _ => {
                    d.content = text;
                    d.has_content = true;
                }
            }
        }
        if c.finish_reason.is_some() {
            if let (Some(det), Some(t)) = (&mut self.detector, tools) {
                det.finish(&t.names, &mut pieces);
            }
        }
        self.take_pieces(pieces, seed, &mut d);
        d.reasoning = delta.reasoning_content.filter(|r| !r.is_empty());
        d.refusal = delta.refusal;
        for tc in delta.tool_calls.unwrap_or_default() {
            self.structured_call(tc, seed, &mut d);
        }
        let finish = c.finish_reason.as_deref().map(|r| self.finish(r));
        // The SDK's stream helper closes the last tool call only when the
        // finish_reason comes after it (OpenAI sends it alone, delta `{}`).
        let deferred = finish.filter(|_| !d.calls.is_empty());
        self.write_chat(
            d,
            c.logprobs.filter(|l| !l.is_null()).map(logprobs::chat),
            finish.filter(|_| deferred.is_none()),
            out,
        );
        deferred
    }

    /// The choice's finish alone: `{"index": i, "delta": {}, ..., "finish_reason": r}`.
    pub fn finish_only(&mut self, reason: &'static str, out: &mut Vec<u8>) {
        self.write_chat(DeltaOut::default(), None, Some(reason), out);
    }

    /// The stream ended without this choice finishing: release held text.
    pub fn flush(&mut self, tools: Option<&Tools>, seed: &str, out: &mut Vec<u8>) {
        let (Some(det), Some(t)) = (&mut self.detector, tools) else {
            return;
        };
        let mut pieces = Vec::new();
        det.finish(&t.names, &mut pieces);
        let mut d = DeltaOut::default();
        self.take_pieces(pieces, seed, &mut d);
        self.write_chat(d, None, None, out);
    }

    pub fn completion(&mut self, c: ChoiceIn, out: &mut Vec<u8>) {
        let text = c.text.unwrap_or_default();
        let logprobs = c.logprobs.filter(|l| !l.is_null());
        let finish = c.finish_reason.as_deref().map(|r| self.finish(r));
        if !text.is_empty() || logprobs.is_some() || finish.is_some() {
            write_completion(self.index, &text, logprobs.as_ref(), finish, out);
        }
    }

    fn finish(&mut self, upstream: &str) -> &'static str {
        let mut reason = map_finish_reason(upstream);
        // Like trtllm's own parser: a call that ended normally finished as `tool_calls`.
        if reason == "stop" && !self.opened.is_empty() {
            reason = "tool_calls";
        }
        self.finish_reason = Some(reason);
        reason
    }

    /// The index after every call opened so far (the worker picks the indexes
    /// of its own calls, so they may be anything).
    fn next_index(&self) -> u64 {
        self.opened.iter().max().map_or(0, |m| m.saturating_add(1))
    }

    fn take_pieces(&mut self, pieces: Vec<Piece>, seed: &str, d: &mut DeltaOut) {
        for p in pieces {
            match p {
                Piece::Content(text) => {
                    d.content.push_str(&text);
                    d.has_content = true;
                }
                Piece::Call(_) if self.one_call && !self.opened.is_empty() => {}
                Piece::Call(call) => {
                    let index = self.next_index();
                    self.opened.push(index);
                    let k = u32::try_from(index).unwrap_or(u32::MAX);
                    let choice = u32::try_from(self.index).unwrap_or(u32::MAX);
                    d.calls.push(CallDelta {
                        index,
                        id: Some(call_id_for(self.family, seed, choice, k)),
                        name: Some(call.name),
                        arguments: Some(call.arguments),
                    });
                }
            }
        }
    }

    /// A call the worker parsed itself: relay it, enforcing the first-delta rules.
    fn structured_call(&mut self, tc: ToolCallIn, seed: &str, d: &mut DeltaOut) {
        let (name, arguments) = tc.function.map_or((None, None), |f| (f.name, f.arguments));
        if self.dropping && tc.index.is_none() && name.is_none() {
            return; // a fragment of the call dropped last
        }
        let index = tc
            .index
            .unwrap_or_else(|| match (&name, self.opened.last()) {
                // No index: a fragment continues the last call, a name opens a new one.
                (None, Some(&last)) => last,
                _ => self.next_index(),
            });
        if self.one_call && !self.opened.is_empty() && !self.opened.contains(&index) {
            self.dropping = true;
            return;
        }
        self.dropping = false;
        if self.opened.contains(&index) {
            if let Some(a) = arguments.filter(|a| !a.is_empty()) {
                d.calls.push(CallDelta {
                    index,
                    id: None,
                    name: None,
                    arguments: Some(a),
                });
            }
            return;
        }
        self.opened.push(index);
        let choice = u32::try_from(self.index).unwrap_or(u32::MAX);
        let k = u32::try_from(index).unwrap_or(u32::MAX);
        d.calls.push(CallDelta {
            index,
            id: Some(
                tc.id
                    .filter(|i| id_fits(self.family, i))
                    .unwrap_or_else(|| call_id_for(self.family, seed, choice, k)),
            ),
            name: Some(name.unwrap_or_default()),
            arguments: Some(arguments.unwrap_or_default()),
        });
    }

    fn write_chat(
        &mut self,
        mut d: DeltaOut,
        logprobs: Option<Value>,
        finish: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        let first = !self.role_sent;
        let empty =
            !d.has_content && d.reasoning.is_none() && d.refusal.is_none() && d.calls.is_empty();
        if empty && !first && logprobs.is_none() && finish.is_none() {
            return; // nothing the client would see
        }
        d.role = if first {
            Some(d.role.unwrap_or_else(|| "assistant".to_owned()))
        } else {
            None
        };
        self.role_sent = true;

        item_start(out);
        out.extend_from_slice(b"{\"index\":");
        int(out, i64::try_from(self.index).unwrap_or(i64::MAX));
        out.extend_from_slice(b",\"delta\":{");
        let mut sep = false;
        let mut key = |out: &mut Vec<u8>, k: &[u8]| {
            if sep {
                out.push(b',');
            }
            sep = true;
            out.extend_from_slice(k);
        };
        if let Some(role) = &d.role {
            key(out, b"\"role\":");
            str_lit(out, role);
        }
        if d.has_content {
            key(out, b"\"content\":");
            str_lit(out, &d.content);
        } else if first {
            // OpenAI's first delta always has content: "" for text (client code
            // does `text += delta.content`), null when it opens with a tool call.
            key(out, b"\"content\":");
            out.extend_from_slice(if d.calls.is_empty() { b"\"\"" } else { b"null" });
        }
        if let Some(r) = &d.reasoning {
            key(out, b"\"reasoning_content\":");
            str_lit(out, r);
        }
        if let Some(r) = &d.refusal {
            key(out, b"\"refusal\":");
            str_lit(out, r);
        } else if first {
            key(out, b"\"refusal\":null");
        }
        if !d.calls.is_empty() {
            key(out, b"\"tool_calls\":[");
            for (i, c) in d.calls.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_call(c, out);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"},\"logprobs\":");
        match &logprobs {
            Some(l) => value(out, l),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"finish_reason\":");
        opt_str(out, finish);
        out.push(b'}');
    }
}

fn write_call(c: &CallDelta, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"index\":");
    int(out, i64::try_from(c.index).unwrap_or(i64::MAX));
    if let Some(id) = &c.id {
        out.extend_from_slice(b",\"id\":");
        str_lit(out, id);
        out.extend_from_slice(b",\"type\":\"function\"");
    }
    out.extend_from_slice(b",\"function\":{");
    if let Some(name) = &c.name {
        out.extend_from_slice(b"\"name\":");
        str_lit(out, name);
        if c.arguments.is_some() {
            out.push(b',');
        }
    }
    if let Some(a) = &c.arguments {
        out.extend_from_slice(b"\"arguments\":");
        str_lit(out, a);
    }
    out.extend_from_slice(b"}}");
}

fn write_completion(
    index: u64,
    text: &str,
    logprobs: Option<&Value>,
    finish: Option<&str>,
    out: &mut Vec<u8>,
) {
    item_start(out);
    out.extend_from_slice(b"{\"text\":");
    str_lit(out, text);
    out.extend_from_slice(b",\"index\":");
    int(out, i64::try_from(index).unwrap_or(i64::MAX));
    out.extend_from_slice(b",\"logprobs\":");
    match logprobs {
        Some(l) => value(out, l),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"finish_reason\":");
    opt_str(out, finish);
    out.push(b'}');
}

/// Choices are written one after another into a buffer of their own.
fn item_start(out: &mut Vec<u8>) {
    if !out.is_empty() {
        out.push(b',');
    }
}
