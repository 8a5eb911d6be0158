//! What we read from trtllm-serve: stream chunks, usage, errors.
//!
//! Typed structs, not `Value` trees: serde skips the keys we do not name
//! (`stop_reason`, `avg_decoded_tokens_per_iter`, `token_ids`, ...), which is
//! both the filter for non-OpenAI keys and the cheap path for every chunk.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
pub(crate) struct ChunkIn {
    pub choices: Option<Vec<ChoiceIn>>,
    pub usage: Option<Map<String, Value>>,
    // Error shapes: `{"error": ...}` or trtllm's flat `{"object": "error", ...}`.
    pub error: Option<Value>,
    pub object: Option<String>,
    pub message: Option<Value>,
    pub code: Option<Value>,
    pub param: Option<Value>,
}

#[derive(Deserialize)]
pub(crate) struct ChoiceIn {
    pub index: Option<u64>,
    pub delta: Option<DeltaIn>,
    pub text: Option<String>,
    pub finish_reason: Option<String>,
    pub logprobs: Option<Value>,
}

#[derive(Deserialize, Default)]
pub(crate) struct DeltaIn {
    pub role: Option<String>,
    pub content: Option<String>,
    pub refusal: Option<String>,
    /// Not OpenAI's, but the de-facto field of reasoning models; kept when non-empty.
    pub reasoning_content: Option<String>,
    pub tool_calls: Option<Vec<ToolCallIn>>,
}

#[derive(Deserialize)]
pub(crate) struct ToolCallIn {
    pub index: Option<u64>,
    pub id: Option<String>,
    pub function: Option<FunctionIn>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionIn {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

/// An error the worker reported, already in OpenAI's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamError {
    pub message: String,
    pub kind: &'static str,
    pub code: String,
    pub param: Option<String>,
}

impl ChunkIn {
    pub fn upstream_error(&self) -> Option<UpstreamError> {
        match &self.error {
            Some(Value::Object(e)) => {
                Some(error_from(e.get("message"), e.get("code"), e.get("param")))
            }
            Some(Value::Null) | None if self.object.as_deref() == Some("error") => {
                Some(error_from(
                    self.message.as_ref(),
                    self.code.as_ref(),
                    self.param.as_ref(),
                ))
            }
            Some(Value::Null) | None => None,
            // trtllm's request-validation failures: `{"error": "<text>"}`.
            Some(other) => Some(error_from(Some(other), None, None)),
        }
    }
}

/// trtllm's `code` is the HTTP status as an int and its `type` a Python
/// exception name; OpenAI's are strings like `invalid_request_error`. The
/// status decides the type; a string code (an OpenAI-style upstream) is kept.
fn error_from(
    message: Option<&Value>,
    code: Option<&Value>,
    param: Option<&Value>,
) -> UpstreamError {
    let message = match message {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => "the worker reported an error".to_owned(),
    };
    let status = code.and_then(Value::as_u64);
    let client_side = status.is_some_and(|s| (400..500).contains(&s));
    let kind = if client_side {
        "invalid_request_error"
    } else {
        "server_error"
    };
    let code = match code {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ if client_side => "upstream_rejected".to_owned(),
        _ => "upstream_error".to_owned(),
    };
    let param = param.and_then(Value::as_str).map(str::to_owned);
    UpstreamError {
        message,
        kind,
        code,
        param,
    }
}

/// Usage with OpenAI's keys only, `total_tokens` filled in when missing.
pub(crate) fn clean_usage(mut u: Map<String, Value>) -> Map<String, Value> {
    const KEYS: [&str; 5] = [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ];
    u.retain(|k, v| KEYS.contains(&k.as_str()) && !v.is_null());
    if !u.contains_key("total_tokens") {
        let p = u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0);
        let c = u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        u.insert("total_tokens".to_owned(), Value::from(p.saturating_add(c)));
    }
    for key in ["prompt_tokens", "completion_tokens"] {
        u.entry(key).or_insert(Value::from(0));
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(s: &str) -> ChunkIn {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    #[test]
    fn error_shapes() {
        let flat = chunk(
            r#"{"object":"error","message":"bad prompt","type":"BadRequestError","param":null,"code":400}"#,
        );
        assert_eq!(
            flat.upstream_error(),
            Some(UpstreamError {
                message: "bad prompt".into(),
                kind: "invalid_request_error",
                code: "upstream_rejected".into(),
                param: None
            })
        );
        let nested = chunk(
            r#"{"error":{"object":"error","message":"engine died","type":"InternalServerError","param":null,"code":500}}"#,
        );
        let e = nested.upstream_error();
        assert_eq!(
            e.as_ref().map(|e| (e.kind, e.code.as_str())),
            Some(("server_error", "upstream_error"))
        );
        let plain = chunk(r#"{"error":"1 validation error"}"#);
        assert_eq!(
            plain.upstream_error().map(|e| e.message),
            Some("1 validation error".into())
        );
        let openai = chunk(
            r#"{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded","param":"messages"}}"#,
        );
        let e = openai.upstream_error();
        assert_eq!(
            e.as_ref().map(|e| e.code.as_str()),
            Some("context_length_exceeded")
        );
        assert_eq!(e.and_then(|e| e.param), Some("messages".into()));
        assert!(chunk(r#"{"choices":[],"error":null}"#)
            .upstream_error()
            .is_none());
        assert!(chunk(r#"{"object":"chat.completion.chunk","choices":[]}"#)
            .upstream_error()
            .is_none());
    }

    #[test]
    fn usage_cleaned() {
        let u: Map<String, Value> = serde_json::from_str(
            r#"{"prompt_tokens":5,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":null,"extra":1}"#,
        )
        .unwrap_or_default();
        let c = clean_usage(u);
        assert_eq!(c.get("total_tokens"), Some(&Value::from(12)));
        assert!(c.get("extra").is_none() && c.get("completion_tokens_details").is_none());
        assert!(c.get("prompt_tokens_details").is_some());
    }
}
