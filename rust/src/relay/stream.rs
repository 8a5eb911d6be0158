//! A streamed answer: upstream SSE bytes in, OpenAI SSE bytes out.
//!
//! Out go only `data: <json>\n\n` events and a final `data: [DONE]\n\n`, or
//! an error event `data: {"error": {...}}\n\n` that ends the stream. Every
//! chunk carries the gateway's `id`, `created` and public `model`; those never
//! change, so the chunk head is written once and copied. Usage is recorded
//! from the worker's usage chunk and, when the client asked for it, sent as
//! one `choices: []` chunk right before `[DONE]` (every other chunk then has
//! `"usage": null`).

use serde_json::{Map, Value};

use super::choice::ChoiceState;
use super::json_out::{int, opt_str, str_lit, value};
use super::upstream::{clean_usage, ChunkIn, UpstreamError};
use super::{Kind, Meta, Tools};
use crate::sse::{SseError, SseParser};

/// Choice indexes above this are refused: each missing lower index gets a
/// placeholder (indexes must first appear in ascending order), so a bogus
/// index must not make us write millions of them.
const MAX_CHOICE_INDEX: u64 = 4096;

pub struct StreamRelay {
    kind: Kind,
    include_usage: bool,
    tools: Option<Tools>,
    one_tool_call: bool,
    /// The response id, seed of the tool-call ids.
    seed: String,
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":[`
    head: Vec<u8>,
    parser: SseParser,
    choices: Vec<ChoiceState>,
    /// Scratch for the choices of the chunk being written.
    scratch: Vec<u8>,
    usage: Option<Map<String, Value>>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    /// The worker's text, kept so the gateway can count a completion the
    /// worker sent no usage for (a cut stream, an older worker).
    generated: String,
    chunks: u64,
    saw_done: bool,
    failed: bool,
    first_byte_sent: bool,
}

impl StreamRelay {
    pub fn new(kind: Kind, meta: &Meta, include_usage: bool, tools: Option<Tools>) -> Self {
        let mut head = Vec::with_capacity(96 + meta.response_id.len() + meta.public_model.len());
        head.extend_from_slice(b"data: {\"id\":");
        str_lit(&mut head, &meta.response_id);
        head.extend_from_slice(b",\"object\":\"");
        head.extend_from_slice(kind.object(true).as_bytes());
        head.extend_from_slice(b"\",\"created\":");
        int(&mut head, meta.created);
        head.extend_from_slice(b",\"model\":");
        str_lit(&mut head, &meta.public_model);
        head.extend_from_slice(b",\"choices\":[");
        Self {
            // Completions have no tool calls to recognise.
            tools: tools.filter(|_| kind == Kind::Chat),
            one_tool_call: meta.one_tool_call,
            kind,
            include_usage,
            seed: meta.response_id.clone(),
            head,
            parser: SseParser::new(),
            choices: Vec::new(),
            scratch: Vec::new(),
            usage: None,
            prompt_tokens: None,
            completion_tokens: None,
            generated: String::new(),
            chunks: 0,
            saw_done: false,
            failed: false,
            first_byte_sent: false,
        }
    }

    /// Bytes from the worker; returns what to write to the client now.
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done() {
            return out;
        }
        // The parser calls back into `self`, so it is moved out meanwhile.
        let mut parser = std::mem::take(&mut self.parser);
        let res = parser.feed(data, |ev| self.on_event(ev, false, &mut out));
        self.parser = parser;
        if let Err(SseError::EventTooLarge) = res {
            self.fail(
                &mut out,
                "The worker sent a stream event larger than the gateway accepts.",
                "upstream_event_too_large",
            );
        }
        self.sent(out)
    }

    /// The worker's body ended. Without `[DONE]` (or an error already sent)
    /// the worker closed early: the client gets an error event.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.done() {
            return out;
        }
        let mut parser = std::mem::take(&mut self.parser);
        parser.finish(|ev| self.on_event(ev, true, &mut out));
        self.parser = parser;
        if !self.done() {
            self.fail(
                &mut out,
                "The worker closed the stream before the answer was complete.",
                "upstream_disconnected",
            );
        }
        self.sent(out)
    }

    /// An error the gateway itself detected (a timeout, ...): it ends the stream.
    pub fn error_event(
        &mut self,
        message: &str,
        kind: &str,
        code: Option<&str>,
        param: Option<&str>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        write_error(&mut out, message, kind, code, param);
        self.failed = true;
        self.sent(out)
    }

    pub fn done(&self) -> bool {
        self.saw_done || self.failed
    }
    pub fn failed(&self) -> bool {
        self.failed
    }
    pub fn prompt_tokens(&self) -> Option<u64> {
        self.prompt_tokens
    }
    pub fn completion_tokens(&self) -> Option<u64> {
        self.completion_tokens
    }
    pub fn generated_text(&self) -> &str {
        &self.generated
    }
    pub fn finish_reason(&self) -> Option<&'static str> {
        self.choices
            .iter()
            .find(|c| c.index == 0)
            .and_then(|c| c.finish_reason)
    }
    pub fn chunks(&self) -> u64 {
        self.chunks
    }
    pub fn first_byte_sent(&self) -> bool {
        self.first_byte_sent
    }

    fn sent(&mut self, out: Vec<u8>) -> Vec<u8> {
        self.first_byte_sent |= !out.is_empty();
        out
    }

    fn on_event(&mut self, data: &[u8], at_eof: bool, out: &mut Vec<u8>) {
        if self.done() {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.on_done(out);
            return;
        }
        match serde_json::from_slice::<ChunkIn>(data) {
            Ok(chunk) => match chunk.upstream_error() {
                Some(e) => self.upstream_failed(out, e),
                None => {
                    if let Err(msg) = self.on_chunk(chunk, out) {
                        self.fail(out, msg, "upstream_invalid_chunk");
                    }
                }
            },
            // An unterminated event at the end is a cut-off chunk: the
            // disconnect error that follows says more than "invalid".
            Err(_) if at_eof => {}
            Err(_) => self.fail(
                out,
                "The worker sent a stream chunk that is not valid JSON.",
                "upstream_invalid_chunk",
            ),
        }
    }

    fn on_chunk(&mut self, chunk: ChunkIn, out: &mut Vec<u8>) -> Result<(), &'static str> {
        if let Some(u) = chunk.usage {
            self.prompt_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
            self.completion_tokens = u.get("completion_tokens").and_then(Value::as_u64);
            self.usage = Some(clean_usage(u));
        }
        let choices = chunk.choices.unwrap_or_default();
        if choices.is_empty() {
            return Ok(()); // the usage chunk: sent before [DONE], if at all
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let chat = self.kind == Kind::Chat;
        let mut deferred: Vec<(usize, &'static str)> = Vec::new();
        for c in choices {
            keep_text(&mut self.generated, &c);
            let index = c.index.unwrap_or(0);
            if index > MAX_CHOICE_INDEX {
                self.scratch = buf;
                return Err("The worker sent a stream chunk with an out-of-range choice index.");
            }
            let pos = self.choice(index, &mut buf);
            let Some(state) = self.choices.get_mut(pos) else {
                continue;
            };
            if chat {
                if let Some(reason) = state.chat(c, self.tools.as_ref(), &self.seed, &mut buf) {
                    deferred.push((pos, reason));
                }
            } else {
                state.completion(c, &mut buf);
            }
        }
        if !buf.is_empty() {
            self.write_chunk(&buf, out);
        }
        if !deferred.is_empty() {
            buf.clear();
            for (pos, reason) in deferred {
                if let Some(state) = self.choices.get_mut(pos) {
                    state.finish_only(reason, &mut buf);
                }
            }
            self.write_chunk(&buf, out);
        }
        self.scratch = buf;
        Ok(())
    }

    /// Position of choice `index`, created (after placeholders for any lower
    /// index not seen yet) on first sight.
    fn choice(&mut self, index: u64, buf: &mut Vec<u8>) -> usize {
        if let Some(pos) = self.choices.iter().position(|c| c.index == index) {
            return pos;
        }
        let chat = self.kind == Kind::Chat;
        for lower in 0..index {
            if !self.choices.iter().any(|c| c.index == lower) {
                let mut state = ChoiceState::new(lower, self.tools.as_ref(), self.one_tool_call);
                state.placeholder(chat, buf);
                self.choices.push(state);
            }
        }
        self.choices.push(ChoiceState::new(
            index,
            self.tools.as_ref(),
            self.one_tool_call,
        ));
        self.choices.len() - 1
    }

    fn on_done(&mut self, out: &mut Vec<u8>) {
        // Text still held for a call that never completed goes out as content.
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        for state in &mut self.choices {
            state.flush(self.tools.as_ref(), &self.seed, &mut buf);
        }
        if !buf.is_empty() {
            self.write_chunk(&buf, out);
        }
        self.scratch = buf;
        if self.include_usage {
            if let Some(u) = &self.usage {
                out.extend_from_slice(&self.head);
                out.extend_from_slice(b"],\"usage\":");
                value(out, u);
                out.extend_from_slice(b"}\n\n");
            }
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.saw_done = true;
    }

    fn write_chunk(&mut self, choices: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(choices);
        out.extend_from_slice(if self.include_usage {
            b"],\"usage\":null}\n\n"
        } else {
            b"]}\n\n"
        });
        self.chunks += 1;
    }

    fn upstream_failed(&mut self, out: &mut Vec<u8>, e: UpstreamError) {
        write_error(out, &e.message, e.kind, Some(&e.code), e.param.as_deref());
        self.failed = true;
    }

    fn fail(&mut self, out: &mut Vec<u8>, message: &str, code: &str) {
        write_error(out, message, "server_error", Some(code), None);
        self.failed = true;
    }
}

fn write_error(
    out: &mut Vec<u8>,
    message: &str,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
) {
    out.extend_from_slice(b"data: {\"error\":{\"message\":");
    str_lit(out, message);
    out.extend_from_slice(b",\"type\":");
    str_lit(out, kind);
    out.extend_from_slice(b",\"param\":");
    opt_str(out, param);
    out.extend_from_slice(b",\"code\":");
    opt_str(out, code);
    out.extend_from_slice(b"}}\n\n");
}

/// Appends what a choice delta generated: content, completion text, tool-call arguments.
fn keep_text(into: &mut String, c: &super::upstream::ChoiceIn) {
    if let Some(t) = &c.text {
        into.push_str(t);
    }
    if let Some(d) = &c.delta {
        if let Some(t) = &d.content {
            into.push_str(t);
        }
        for call in d.tool_calls.iter().flatten() {
            if let Some(f) = &call.function {
                into.push_str(f.name.as_deref().unwrap_or(""));
                into.push_str(f.arguments.as_deref().unwrap_or(""));
            }
        }
    }
}
