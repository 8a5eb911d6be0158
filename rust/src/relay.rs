//! The relay: trtllm-serve answers in, OpenAI answers out.
//!
//! - `stream`: a streamed answer, chunk by chunk (`StreamRelay`);
//! - `response`: a whole non-streamed body (`rewrite_response`);
//! - `fast_answer`: the usual whole body by a small byte scanner (else `response`);
//! - `upstream`: the shapes we read from the worker, errors included;
//! - `choice`: per-choice rewriting rules of the stream (roles, tool calls);
//! - `json_out`: the hand-written JSON of the output chunks;
//! - `logprobs`: a chat choice's logprobs in OpenAI's shape.
//!
//! The gateway stamps its own `id`, `created` and public `model` on every
//! answer; everything else is the worker's, reshaped to what the OpenAI SDKs
//! expect (see shared/contract/NOTES.md).

mod choice;
mod fast_answer;
mod json_out;
mod logprobs;
mod response;
mod stream;
mod upstream;

pub use response::{rewrite_general, rewrite_response, InvalidBody, Rewritten};
pub use stream::StreamRelay;

use crate::toolcalls::ChatFamily;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "chat" => Some(Self::Chat),
            "completion" => Some(Self::Completion),
            _ => None,
        }
    }

    fn object(self, streaming: bool) -> &'static str {
        match (self, streaming) {
            (Self::Chat, true) => "chat.completion.chunk",
            (Self::Chat, false) => "chat.completion",
            // Completions use one object name for both (OpenAI's legacy API).
            (Self::Completion, _) => "text_completion",
        }
    }
}

/// What the gateway stamps on an answer.
#[derive(Debug, Clone)]
pub struct Meta {
    pub public_model: String,
    pub response_id: String,
    pub created: i64,
    /// `parallel_tool_calls: false`: at most one tool call per choice, as OpenAI
    /// guarantees; a model that writes more has the others dropped.
    pub one_tool_call: bool,
}

/// Text tool-call recognition for models whose calls trtllm-serve leaves as content.
#[derive(Debug, Clone)]
pub struct Tools {
    pub family: ChatFamily,
    pub names: Vec<String>,
}

impl Tools {
    /// `None` unless both a family and at least one tool name are given.
    pub fn new(family: Option<ChatFamily>, names: Vec<String>) -> Option<Self> {
        family
            .filter(|_| !names.is_empty())
            .map(|family| Self { family, names })
    }
}

/// trtllm's finish reasons onto OpenAI's set. `timeout` and `cancelled` both
/// mean the answer was cut by a limit (the request's time budget, or an abort
/// on the server side), which OpenAI only knows as `length`. Anything unknown
/// becomes `stop`, the only other neutral value.
pub fn map_finish_reason(reason: &str) -> &'static str {
    match reason {
        "length" | "timeout" | "cancelled" => "length",
        "tool_calls" => "tool_calls",
        "content_filter" => "content_filter",
        "function_call" => "function_call",
        _ => "stop",
    }
}

#[cfg(test)]
mod fast_answer_tests;
#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons() {
        assert_eq!(map_finish_reason("stop"), "stop");
        assert_eq!(map_finish_reason("length"), "length");
        assert_eq!(map_finish_reason("timeout"), "length");
        assert_eq!(map_finish_reason("cancelled"), "length");
        assert_eq!(map_finish_reason("tool_calls"), "tool_calls");
        assert_eq!(map_finish_reason("abort"), "stop");
    }

    #[test]
    fn tools_need_family_and_names() {
        assert!(Tools::new(Some(ChatFamily::Qwen2), vec![]).is_none());
        assert!(Tools::new(None, vec!["f".into()]).is_none());
        assert!(Tools::new(Some(ChatFamily::Qwen2), vec!["f".into()]).is_some());
    }
}
