//! A whole (non-streamed) answer: the worker's body reshaped to OpenAI's.
//!
//! Built as a new object with OpenAI's keys only, so whatever else trtllm adds
//! (`prompt_token_ids`, `stop_reason`, `disaggregated_params`, ...) is dropped
//! without a list to keep up to date. Fills what the SDKs require: the
//! message's `role`, `content`, `refusal`; each choice's `index`,
//! `finish_reason`, `logprobs`; usage's `total_tokens`.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::fast_answer;
use super::logprobs;
use super::upstream::clean_usage;
use super::{json_out, map_finish_reason, Kind, Meta, Tools};
use crate::family::ChatFamily;
use crate::toolcalls::{call_id_for, id_fits, parse};

#[derive(Debug)]
pub struct Rewritten {
    pub body: Vec<u8>,
    /// None when the worker sent no usage (or usage without this count).
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Of choice 0, mapped onto OpenAI's set.
    pub finish_reason: Option<&'static str>,
}

/// The worker's body is not an answer (the gateway answers 502).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBody(pub String);

impl std::fmt::Display for InvalidBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidBody {}

fn invalid(msg: &str) -> InvalidBody {
    InvalidBody(msg.to_owned())
}

pub fn rewrite_response(
    body: &[u8],
    kind: Kind,
    meta: &Meta,
    tools: Option<&Tools>,
) -> Result<Rewritten, InvalidBody> {
    // The usual answer takes the small scanner; it gives the very same bytes or None.
    if tools.is_none() {
        if let Some(r) = fast_answer::rewrite(body, kind, meta) {
            return Ok(r);
        }
    }
    rewrite_general(body, kind, meta, tools)
}

/// The answer's opening, up to `"choices":[`.
pub(super) fn head(out: &mut Vec<u8>, kind: Kind, meta: &Meta) {
    out.extend_from_slice(b"{\"id\":");
    json_out::str_lit(out, &meta.response_id);
    out.extend_from_slice(b",\"object\":");
    json_out::str_lit(out, kind.object(false));
    out.extend_from_slice(b",\"created\":");
    json_out::int(out, meta.created);
    out.extend_from_slice(b",\"model\":");
    json_out::str_lit(out, &meta.public_model);
    out.extend_from_slice(b",\"choices\":[");
}

/// Every body: read through serde (the fast path's reference, and its fallback).
#[doc(hidden)]
pub fn rewrite_general(
    body: &[u8],
    kind: Kind,
    meta: &Meta,
    tools: Option<&Tools>,
) -> Result<Rewritten, InvalidBody> {
    // One pass over the body into the few fields the answer keeps; every other key
    // (prompt_token_ids, disaggregated_params, ...) is skipped without building a value.
    let mut de = serde_json::Deserializer::from_slice(body);
    let top = de
        .deserialize_any(TopSeed(kind))
        .map_err(|e| InvalidBody(format!("body is not JSON: {e}")))?;
    de.end()
        .map_err(|e| InvalidBody(format!("body is not JSON: {e}")))?;
    let Top::Object { choices, usage } = top else {
        return Err(invalid("body is not a JSON object"));
    };
    let choices = match choices {
        Choices::List(list) => list,
        Choices::Missing => return Err(invalid("body has no choices")),
        Choices::Bad(msg) => return Err(invalid(msg)),
    };
    let mut out = Vec::with_capacity(body.len() + 64);
    head(&mut out, kind, meta);
    let mut finish0 = None;
    for (pos, c) in choices.into_iter().enumerate() {
        if pos > 0 {
            out.push(b',');
        }
        let index = c.index.unwrap_or(pos as u64);
        let mut finish = c.finish_reason.unwrap_or("stop");
        out.push(b'{');
        match kind {
            Kind::Chat => {
                let (message, has_calls) = chat_message(c.message, tools, meta, index);
                if has_calls && finish == "stop" {
                    finish = "tool_calls";
                }
                out.extend_from_slice(b"\"index\":");
                out.extend_from_slice(index.to_string().as_bytes());
                out.extend_from_slice(b",\"message\":");
                json_out::value(&mut out, &message);
            }
            Kind::Completion => {
                out.extend_from_slice(b"\"text\":");
                json_out::str_lit(&mut out, &c.text);
                out.extend_from_slice(b",\"index\":");
                out.extend_from_slice(index.to_string().as_bytes());
            }
        }
        out.extend_from_slice(b",\"logprobs\":");
        match kind {
            Kind::Chat => json_out::value(&mut out, &logprobs::chat(c.logprobs)),
            Kind::Completion => json_out::value(&mut out, &c.logprobs),
        }
        out.extend_from_slice(b",\"finish_reason\":");
        json_out::str_lit(&mut out, finish);
        out.push(b'}');
        if index == 0 || finish0.is_none() {
            finish0 = Some(finish);
        }
    }
    out.push(b']');
    let (mut prompt_tokens, mut completion_tokens) = (None, None);
    if let Some(u) = usage {
        let u = clean_usage(u);
        prompt_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
        completion_tokens = u.get("completion_tokens").and_then(Value::as_u64);
        out.extend_from_slice(b",\"usage\":");
        json_out::value(&mut out, &u);
    }
    out.push(b'}');
    Ok(Rewritten {
        body: out,
        prompt_tokens,
        completion_tokens,
        finish_reason: finish0,
    })
}

// --- the one-pass reader: what `rewrite_response` keeps of the worker's body ---
//
// Same rules as reading the body into a `Value` first: a repeated key's last
// value wins, a field of the wrong type reads as absent (or refuses the body
// where a `Value` reading refused it), and unknown keys are skipped.

enum Top {
    Object {
        choices: Choices,
        usage: Option<Map<String, Value>>,
    },
    Other,
}

enum Choices {
    Missing,
    List(Vec<ChoiceIn>),
    Bad(&'static str),
}

#[derive(Default)]
struct ChoiceIn {
    index: Option<u64>,
    finish_reason: Option<&'static str>, // mapped; None: absent or not a string
    logprobs: Value,
    message: Map<String, Value>, // chat
    text: String,                // completion
}

/// Drains a sequence or map the reader does not use.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the scalar `visit_*` methods of a visitor: each gives `$other`
/// (containers are handled by each visitor, which drains them).
macro_rules! other_visits {
    ($other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

struct TopSeed(Kind);

impl<'de> DeserializeSeed<'de> for TopSeed {
    type Value = Top;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed {
    type Value = Top;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    other_visits!(Top::Other);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top, A::Error> {
        drain_seq(seq)?;
        Ok(Top::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let (mut choices, mut usage) = (Choices::Missing, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Choices => choices = map.next_value_seed(ChoicesSeed(self.0))?,
                Key::Usage => {
                    usage = match map.next_value::<Value>()? {
                        Value::Object(u) => Some(u),
                        _ => None,
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Top::Object { choices, usage })
    }
}

struct ChoicesSeed(Kind);

impl<'de> DeserializeSeed<'de> for ChoicesSeed {
    type Value = Choices;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Choices, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChoicesSeed {
    type Value = Choices;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    other_visits!(Choices::Bad("body has no choices"));
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Choices, A::Error> {
        drain_map(map)?;
        Ok(Choices::Bad("body has no choices"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        let mut bad = None;
        while let Some(c) = seq.next_element_seed(ChoiceSeed(self.0))? {
            match c {
                Ok(c) if bad.is_none() => list.push(c),
                Ok(_) => {}
                Err(msg) => {
                    bad.get_or_insert(msg);
                }
            }
        }
        Ok(bad.map_or(Choices::List(list), Choices::Bad))
    }
}

struct ChoiceSeed(Kind);

impl<'de> DeserializeSeed<'de> for ChoiceSeed {
    type Value = Result<ChoiceIn, &'static str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChoiceSeed {
    type Value = Result<ChoiceIn, &'static str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    other_visits!(Err("a choice is not an object"));
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Err("a choice is not an object"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut c = ChoiceIn::default();
        let mut bad_message = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Index => c.index = map.next_value::<Scalar>()?.u64,
                Key::FinishReason => c.finish_reason = map.next_value::<Scalar>()?.finish,
                Key::Logprobs => c.logprobs = map.next_value()?,
                Key::Message if self.0 == Kind::Chat => match map.next_value::<Value>()? {
                    Value::Object(m) => (c.message, bad_message) = (m, false),
                    Value::Null => (c.message, bad_message) = (Map::new(), false),
                    _ => (c.message, bad_message) = (Map::new(), true),
                },
                Key::Text if self.0 == Kind::Completion => {
                    c.text = match map.next_value::<Value>()? {
                        Value::String(s) => s,
                        _ => String::new(),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if bad_message {
            Err("a message is not an object")
        } else {
            Ok(c)
        })
    }
}

/// A scalar field read as `Value::as_u64` / `as_str` would see it: anything else is absent.
#[derive(Default)]
struct Scalar {
    u64: Option<u64>,
    finish: Option<&'static str>,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::default())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar {
            u64: u64::try_from(v).ok(),
            finish: None,
        })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar {
            u64: Some(v),
            finish: None,
        })
    }
    fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::default())
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar {
            u64: None,
            finish: Some(map_finish_reason(v)),
        })
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        drain_seq(seq)?;
        Ok(Scalar::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        drain_map(map)?;
        Ok(Scalar::default())
    }
}

/// The keys the reader looks at (matched after unescaping, like a `Map` would).
enum Key {
    Choices,
    Usage,
    Index,
    FinishReason,
    Logprobs,
    Message,
    Text,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "choices" => Key::Choices,
                    "usage" => Key::Usage,
                    "index" => Key::Index,
                    "finish_reason" => Key::FinishReason,
                    "logprobs" => Key::Logprobs,
                    "message" => Key::Message,
                    "text" => Key::Text,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// The message with OpenAI's keys; `true` when it carries tool calls.
fn chat_message(
    mut m: Map<String, Value>,
    tools: Option<&Tools>,
    meta: &Meta,
    choice: u64,
) -> (Map<String, Value>, bool) {
    let seed = meta.response_id.as_str();
    let mut content = match m.remove("content") {
        Some(Value::String(s)) => Value::String(s),
        _ => Value::Null,
    };
    let choice = u32::try_from(choice).unwrap_or(u32::MAX);
    let family = tools.map(|t| t.family);
    let mut calls: Vec<Value> = match m.remove("tool_calls") {
        Some(Value::Array(list)) => list
            .into_iter()
            .enumerate()
            .filter_map(|(k, c)| structured_call(c, family, seed, choice, k))
            .collect(),
        _ => Vec::new(),
    };
    if let (true, Some(t), Value::String(text)) = (calls.is_empty(), tools, &content) {
        if let Some(p) = parse(t.family, text, &t.names) {
            content = p.content.map_or(Value::Null, Value::String);
            calls = p
                .calls
                .into_iter()
                .enumerate()
                .map(|(k, c)| {
                    let id = call_id_for(family, seed, choice, k as u32);
                    call_value(id, c.name, c.arguments)
                })
                .collect();
        }
    }
    if meta.one_tool_call {
        calls.truncate(1);
    }
    // OpenAI sends `content: null` next to tool calls; trtllm sends "".
    if !calls.is_empty() && content.as_str() == Some("") {
        content = Value::Null;
    }
    let mut out = Map::new();
    out.insert("role".into(), "assistant".into());
    out.insert("content".into(), content);
    let refusal = m
        .remove("refusal")
        .filter(Value::is_string)
        .unwrap_or(Value::Null);
    out.insert("refusal".into(), refusal);
    let has_calls = !calls.is_empty();
    if has_calls {
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(r) = m
        .remove("reasoning_content")
        .filter(|r| r.as_str().is_some_and(|s| !s.is_empty()))
    {
        out.insert("reasoning_content".into(), r);
    }
    (out, has_calls)
}

/// A call the worker parsed itself, with `type` set and arguments as a string.
fn structured_call(
    c: Value,
    family: Option<ChatFamily>,
    seed: &str,
    choice: u32,
    k: usize,
) -> Option<Value> {
    let Value::Object(mut c) = c else { return None };
    let Some(Value::Object(mut f)) = c.remove("function") else {
        return None;
    };
    let name = match f.remove("name") {
        Some(Value::String(s)) => s,
        _ => return None,
    };
    let arguments = match f.remove("arguments") {
        Some(Value::String(s)) => s,
        Some(v @ Value::Object(_)) => v.to_string(),
        _ => "{}".to_owned(),
    };
    let id = match c.remove("id") {
        Some(Value::String(s)) if id_fits(family, &s) => s,
        _ => call_id_for(family, seed, choice, u32::try_from(k).unwrap_or(u32::MAX)),
    };
    Some(call_value(id, name, arguments))
}

fn call_value(id: String, name: String, arguments: String) -> Value {
    let mut f = Map::new();
    f.insert("name".into(), name.into());
    f.insert("arguments".into(), arguments.into());
    let mut c = Map::new();
    c.insert("id".into(), id.into());
    c.insert("type".into(), "function".into());
    c.insert("function".into(), Value::Object(f));
    Value::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolcalls::call_id;

    fn meta() -> Meta {
        Meta {
            public_model: "gpt-4o".into(),
            response_id: "chatcmpl-abc".into(),
            created: 1_700_000_000,
            one_tool_call: false,
        }
    }

    fn rewrite(body: &str, kind: Kind, tools: Option<&Tools>) -> (Value, Rewritten) {
        let r = rewrite_response(body.as_bytes(), kind, &meta(), tools)
            .unwrap_or_else(|e| panic!("{e}"));
        (serde_json::from_slice(&r.body).unwrap_or(Value::Null), r)
    }

    const TRT_CHAT: &str = r#"{"id":"chatcmpl-9f2","object":"chat.completion","created":1,"model":"/models/llama","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","reasoning_content":null,"tool_calls":[]},"logprobs":null,"finish_reason":"timeout","stop_reason":null,"disaggregated_params":null,"avg_decoded_tokens_per_iter":null}],"usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":0}},"prompt_token_ids":null}"#;

    #[test]
    fn chat_body_becomes_openai() {
        let (v, r) = rewrite(TRT_CHAT, Kind::Chat, None);
        let want: Value = serde_json::from_str(
            r#"{"id":"chatcmpl-abc","object":"chat.completion","created":1700000000,"model":"gpt-4o",
                "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"length"}],
                "usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        )
        .unwrap_or(Value::Null);
        assert_eq!(v, want);
        assert_eq!(
            (r.prompt_tokens, r.completion_tokens, r.finish_reason),
            (Some(9), Some(3), Some("length"))
        );
        // Our key order: id, object, created, model, choices, usage.
        let text = String::from_utf8_lossy(&r.body);
        assert!(text.starts_with(r#"{"id":"chatcmpl-abc","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":"#));
    }

    #[test]
    fn completion_body_becomes_openai() {
        let body = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" world","token_ids":null,"logprobs":null,"context_logits":null,"finish_reason":"length","stop_reason":null,"disaggregated_params":null}],"usage":{"prompt_tokens":2,"completion_tokens":1},"prompt_token_ids":[]}"#;
        let (v, r) = rewrite(body, Kind::Completion, None);
        let want: Value = serde_json::from_str(
            r#"{"id":"chatcmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-4o",
                "choices":[{"text":" world","index":0,"logprobs":null,"finish_reason":"length"}],
                "usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}"#,
        )
        .unwrap_or(Value::Null);
        assert_eq!(v, want);
        assert_eq!(r.finish_reason, Some("length"));
    }

    #[test]
    fn text_tool_calls_are_parsed() {
        let tools = Tools {
            family: ChatFamily::Qwen2,
            names: vec!["get_weather".into()],
        };
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        let (v, r) = rewrite(body, Kind::Chat, Some(&tools));
        let msg = &v["choices"][0]["message"];
        assert_eq!(msg["content"], "Checking.");
        assert_eq!(msg["tool_calls"][0]["type"], "function");
        assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(
            msg["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(msg["tool_calls"][0]["id"], call_id("chatcmpl-abc", 0, 0));
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(r.finish_reason, Some("tool_calls"));
        // Without tools (or tool_choice none) the text stays content.
        let (v, _) = rewrite(body, Kind::Chat, None);
        assert!(v["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("<tool_call>")));
        assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    }

    #[test]
    fn mistral_calls_get_nine_character_ids() {
        let tools = Tools {
            family: ChatFamily::Mistral,
            names: vec!["f".into()],
        };
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]"},"finish_reason":"stop"}]}"#;
        let (v, _) = rewrite(body, Kind::Chat, Some(&tools));
        let id = v["choices"][0]["message"]["tool_calls"][0]["id"].as_str();
        assert_eq!(
            id.map(str::to_owned),
            Some(call_id_for(Some(ChatFamily::Mistral), "chatcmpl-abc", 0, 0))
        );
        assert_eq!(id.map(str::len), Some(9));
        // a worker's own id that the template would refuse is replaced
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":[{"id":"chatcmpl-tool-1","function":{"name":"f","arguments":"{}"}},{"id":"abcDEF123","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}"#;
        let (v, _) = rewrite(body, Kind::Chat, Some(&tools));
        let calls = &v["choices"][0]["message"]["tool_calls"];
        assert_eq!(calls[0]["id"].as_str().map(str::len), Some(9));
        assert_eq!(calls[1]["id"], "abcDEF123");
    }

    #[test]
    fn without_parallel_calls_only_the_first_call_is_answered() {
        let one = Meta {
            one_tool_call: true,
            ..meta()
        };
        let tools = Tools {
            family: ChatFamily::Qwen2,
            names: vec!["f".into(), "g".into()],
        };
        let text = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>"},"finish_reason":"stop"}]}"#;
        let worker = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":[{"id":"chatcmpl-tool-1","function":{"name":"f","arguments":"{}"}},{"id":"chatcmpl-tool-2","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"stop"}]}"#;
        for body in [text, worker] {
            let (all, _) = rewrite(body, Kind::Chat, Some(&tools));
            assert_eq!(
                all["choices"][0]["message"]["tool_calls"]
                    .as_array()
                    .map(Vec::len),
                Some(2)
            );
            let r = rewrite_response(body.as_bytes(), Kind::Chat, &one, Some(&tools))
                .unwrap_or_else(|e| panic!("{e}"));
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let calls = &v["choices"][0]["message"]["tool_calls"];
            assert_eq!(calls.as_array().map(Vec::len), Some(1), "{body}");
            assert_eq!(calls[0]["function"]["name"], "f");
            assert_eq!(r.finish_reason, Some("tool_calls"));
        }
    }

    #[test]
    fn structured_tool_calls_are_completed() {
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{}"}},{"id":"chatcmpl-tool-1","type":"function","function":{"name":"g","arguments":{"a":1}}}]},"finish_reason":"stop"}]}"#;
        let (v, r) = rewrite(body, Kind::Chat, None);
        let msg = &v["choices"][0]["message"];
        assert_eq!(msg["content"], Value::Null);
        assert_eq!(msg["tool_calls"][0]["id"], call_id("chatcmpl-abc", 0, 0));
        assert_eq!(msg["tool_calls"][0]["type"], "function");
        assert_eq!(msg["tool_calls"][1]["id"], "chatcmpl-tool-1");
        assert_eq!(msg["tool_calls"][1]["function"]["arguments"], r#"{"a":1}"#);
        assert_eq!(r.finish_reason, Some("tool_calls"));
        assert_eq!((r.prompt_tokens, r.completion_tokens), (None, None));
        assert!(v.get("usage").is_none());
    }

    #[test]
    fn several_choices_keep_their_index() {
        let body = r#"{"choices":[{"index":1,"message":{"content":"b"},"finish_reason":"stop"},{"index":0,"message":{"content":"a"},"finish_reason":"cancelled"}]}"#;
        let (v, r) = rewrite(body, Kind::Chat, None);
        assert_eq!(v["choices"][0]["index"], 1);
        assert_eq!(v["choices"][1]["index"], 0);
        assert_eq!(r.finish_reason, Some("length"));
    }

    #[test]
    fn garbage_is_refused() {
        for body in [
            "",
            "not json",
            "[1,2]",
            "{}",
            r#"{"choices": 3}"#,
            r#"{"choices":[1]}"#,
            r#"{"choices":[{"message":[]}]}"#,
        ] {
            assert!(
                rewrite_response(body.as_bytes(), Kind::Chat, &meta(), None).is_err(),
                "{body:?}"
            );
        }
        let flat_error =
            r#"{"object":"error","message":"x","type":"BadRequestError","param":null,"code":400}"#;
        assert!(rewrite_response(flat_error.as_bytes(), Kind::Chat, &meta(), None).is_err());
    }

    /// The reading through a `Value` tree that the one-pass reader replaced: both must
    /// give the very same bytes, or both refuse.
    fn reference(
        body: &[u8],
        kind: Kind,
        meta: &Meta,
        tools: Option<&Tools>,
    ) -> Result<Rewritten, InvalidBody> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| InvalidBody(format!("body is not JSON: {e}")))?;
        let Value::Object(mut obj) = v else {
            return Err(invalid("body is not a JSON object"));
        };
        let Some(Value::Array(choices)) = obj.remove("choices") else {
            return Err(invalid("body has no choices"));
        };
        let mut out_choices = Vec::with_capacity(choices.len());
        let mut finish0 = None;
        for (pos, c) in choices.into_iter().enumerate() {
            let Value::Object(mut c) = c else {
                return Err(invalid("a choice is not an object"));
            };
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
            let mut finish = c
                .get("finish_reason")
                .and_then(Value::as_str)
                .map_or("stop", map_finish_reason);
            let logprobs = c.remove("logprobs").unwrap_or(Value::Null);
            let mut choice = Map::new();
            match kind {
                Kind::Chat => {
                    let message = match c.remove("message") {
                        Some(Value::Object(m)) => m,
                        None | Some(Value::Null) => Map::new(),
                        Some(_) => return Err(invalid("a message is not an object")),
                    };
                    let (message, has_calls) = chat_message(message, tools, meta, index);
                    if has_calls && finish == "stop" {
                        finish = "tool_calls";
                    }
                    choice.insert("index".into(), index.into());
                    choice.insert("message".into(), Value::Object(message));
                }
                Kind::Completion => {
                    let text = match c.remove("text") {
                        Some(Value::String(s)) => s,
                        _ => String::new(),
                    };
                    choice.insert("text".into(), text.into());
                    choice.insert("index".into(), index.into());
                }
            }
            let logprobs = match kind {
                Kind::Chat => logprobs::chat(logprobs),
                Kind::Completion => logprobs,
            };
            choice.insert("logprobs".into(), logprobs);
            choice.insert("finish_reason".into(), finish.into());
            if index == 0 || finish0.is_none() {
                finish0 = Some(finish);
            }
            out_choices.push(Value::Object(choice));
        }

        let mut out = Map::new();
        out.insert("id".into(), meta.response_id.clone().into());
        out.insert("object".into(), kind.object(false).into());
        out.insert("created".into(), meta.created.into());
        out.insert("model".into(), meta.public_model.clone().into());
        out.insert("choices".into(), Value::Array(out_choices));
        let (mut prompt_tokens, mut completion_tokens) = (None, None);
        if let Some(Value::Object(u)) = obj.remove("usage") {
            let u = clean_usage(u);
            prompt_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
            completion_tokens = u.get("completion_tokens").and_then(Value::as_u64);
            out.insert("usage".into(), Value::Object(u));
        }
        let body = serde_json::to_vec(&out).map_err(|e| InvalidBody(e.to_string()))?;
        Ok(Rewritten {
            body,
            prompt_tokens,
            completion_tokens,
            finish_reason: finish0,
        })
    }

    #[test]
    fn one_pass_reader_matches_the_value_reading() {
        let tools = Tools {
            family: ChatFamily::Qwen2,
            names: vec!["get_weather".into()],
        };
        let bodies = [
            TRT_CHAT,
            r#"{"choices":[{"index":0,"message":{"content":"a\u0001\"b\\","reasoning_content":"r"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":[{"index":0,"text":"x","finish_reason":"length","logprobs":{"tokens":["a"],"token_logprobs":[-0.5]}}]}"#,
            r#"{"choices":[{"index":0,"message":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":null}]},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":-1,"finish_reason":7},{"index":2.0,"finish_reason":null,"message":null},{"index":18446744073709551615}]}"#,
            r#"{"choices":[{"index":3,"index":1,"message":[],"message":{"content":"m"},"finish_reason":"x","finish_reason":"cancelled"}]}"#,
            r#"{"choices":3,"choices":[{"message":{"content":"z"}}],"usage":{"prompt_tokens":2,"completion_tokens":3,"extra":1},"usage":null}"#,
            r#"{"choices":[{"message":{}}],"choices":5}"#,
            r#"{"choices":[1,{"message":3}]}"#,
            r#"{"choices":[{"message":3},1]}"#,
            r#"{"ch\u006fices":[{"t\u0065xt":"esc","message":{"content":"esc"}}]}"#,
            r#"{"choices":[{"message":{"content":"Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"}}]}"#,
            r#"{"choices":[{"message":{"content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]}}],"prompt_token_ids":[1,2,[3,{"a":null}]]}"#,
            r#"{"choices":[]}  "#,
            r#"{"choices":[]} x"#,
            r#"{"choices":[{"message":{"content":"a"}}"#,
            r#"{"usage":{"prompt_tokens":1},"x":{"choices":[]}}"#,
            "[1,2]",
            "\"choices\"",
            "null",
            "",
        ];
        for body in bodies {
            for kind in [Kind::Chat, Kind::Completion] {
                for t in [None, Some(&tools)] {
                    let got = rewrite_response(body.as_bytes(), kind, &meta(), t);
                    let want = reference(body.as_bytes(), kind, &meta(), t);
                    match (got, want) {
                        (Ok(g), Ok(w)) => {
                            assert_eq!(
                                String::from_utf8_lossy(&g.body),
                                String::from_utf8_lossy(&w.body),
                                "{body}"
                            );
                            assert_eq!(
                                (g.prompt_tokens, g.completion_tokens, g.finish_reason),
                                (w.prompt_tokens, w.completion_tokens, w.finish_reason),
                                "{body}"
                            );
                        }
                        (Err(g), Err(w)) => {
                            // a JSON error's position may differ (the reader stops where it refused)
                            assert_eq!(g.0.split(':').next(), w.0.split(':').next(), "{body}");
                        }
                        (g, w) => panic!("{body}: {g:?} vs {w:?}"),
                    }
                }
            }
        }
    }
}
