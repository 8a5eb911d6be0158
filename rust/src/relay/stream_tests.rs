//! The stream relay end to end on trtllm-shaped streams: every output is
//! checked against the rules the OpenAI SDKs rely on, and any split of the
//! upstream bytes gives the very same output.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{Kind, Meta, StreamRelay, Tools};
use crate::toolcalls::ChatFamily;

const ID: &str = "chatcmpl-gw1";
const CREATED: i64 = 1_700_000_123;
const MODEL: &str = "gpt-4o";

fn meta() -> Meta {
    Meta {
        public_model: MODEL.into(),
        response_id: ID.into(),
        created: CREATED,
        one_tool_call: false,
    }
}

fn tools(family: ChatFamily) -> Option<Tools> {
    Tools::new(Some(family), vec!["get_weather".into(), "get_time".into()])
}

// --- upstream streams as trtllm-serve writes them -------------------------------

fn head(object: &str) -> Value {
    json!({"id": "chatcmpl-7", "object": object, "created": 1, "model": "/models/x"})
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn event(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn usage_event(object: &str, p: u64, c: u64) -> String {
    let u = json!({"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c,
                   "prompt_tokens_details": {"cached_tokens": 0}});
    event(&with(head(object), json!({"choices": [], "usage": u})))
}

/// A chat stream: role chunk (with trtllm's stray space), one chunk per piece
/// (the last one finishing), optional usage chunk, `[DONE]`.
fn chat_stream(pieces: &[&str], finish: &str, usage: bool, done: bool) -> String {
    let obj = "chat.completion.chunk";
    let role = with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
    );
    let mut s = format!("data: {role} \n\n");
    for (i, p) in pieces.iter().enumerate() {
        let mut choice = json!({"index": 0, "delta": {"content": p, "reasoning_content": ""}});
        if i + 1 == pieces.len() {
            choice["finish_reason"] = json!(finish);
            choice["stop_reason"] = json!(null);
        }
        s += &event(&with(head(obj), json!({"choices": [choice]})));
    }
    if usage {
        s += &usage_event(obj, 11, pieces.len() as u64);
    }
    if done {
        s += "data: [DONE]\n\n";
    }
    s
}

/// A chat stream of these deltas for choice 0, then `last` finishing it, then `[DONE]`.
fn delta_stream(deltas: Vec<Value>, last: Value) -> String {
    let obj = "chat.completion.chunk";
    let mut body = String::new();
    for d in deltas {
        body += &event(&with(
            head(obj),
            json!({"choices": [{"index": 0, "delta": d}]}),
        ));
    }
    body += &event(&with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": last, "finish_reason": "stop"}]}),
    ));
    body + "data: [DONE]\n\n"
}

fn completion_stream(pieces: &[&str], finish: &str) -> String {
    let obj = "text_completion";
    let mut s = String::new();
    for (i, p) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let choice = json!({"index": 0, "text": p, "token_ids": null, "logprobs": null,
            "finish_reason": if last { json!(finish) } else { Value::Null },
            "stop_reason": null, "avg_decoded_tokens_per_iter": null});
        s += &event(&with(
            head(obj),
            json!({"choices": [choice], "usage": null}),
        ));
    }
    s + &usage_event(obj, 4, pieces.len() as u64) + "data: [DONE]\n\n"
}

/// Split text into small pieces the way tokens come (2-4 bytes, on char boundaries).
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut n = 0;
    for (i, _) in text.char_indices().skip(1) {
        n += 1;
        if n >= 2 + (i % 3) {
            out.push(&text[start..i]);
            start = i;
            n = 0;
        }
    }
    out.push(&text[start..]);
    out
}

// --- the client side --------------------------------------------------------------

#[derive(Debug)]
enum Ev {
    Chunk(Value),
    Done,
    Error(Value),
}

/// Parse the relay's output as the SDKs do; panics on anything they would reject.
fn parse_events(out: &[u8]) -> Vec<Ev> {
    let text = std::str::from_utf8(out).unwrap_or_else(|e| panic!("output is not UTF-8: {e}"));
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "output ends mid-event: {text:?}"
    );
    text.split_terminator("\n\n")
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"));
            assert!(!data.contains('\n'), "one data line per event");
            if data == "[DONE]" {
                return Ev::Done;
            }
            let v: Value = serde_json::from_str(data).unwrap_or_else(|err| panic!("{err}: {data}"));
            match v.get("error") {
                Some(err) => Ev::Error(err.clone()),
                None => Ev::Chunk(v),
            }
        })
        .collect()
}

/// What a client accumulates from a stream, per choice.
#[derive(Debug, Default, PartialEq)]
struct Acc {
    content: String,
    calls: Vec<(String, String, String)>, // id, name, arguments
    finish: Option<String>,
}

/// Check every rule of NOTES.md "Streaming" and return the accumulated choices.
fn check(out: &[u8], kind: Kind, include_usage: bool) -> (Vec<Acc>, Option<Value>) {
    let events = parse_events(out);
    let object = match kind {
        Kind::Chat => "chat.completion.chunk",
        Kind::Completion => "text_completion",
    };
    let mut accs: Vec<Acc> = Vec::new();
    let mut calls_seen: Vec<Vec<u64>> = Vec::new();
    let mut started: Vec<bool> = Vec::new();
    let mut usage = None;
    let n = events.len();
    for (i, ev) in events.iter().enumerate() {
        let chunk = match ev {
            Ev::Done => {
                assert_eq!(i + 1, n, "[DONE] must be last");
                continue;
            }
            Ev::Error(err) => {
                assert_eq!(i + 1, n, "an error event ends the stream");
                for k in ["message", "type", "param", "code"] {
                    assert!(err.get(k).is_some(), "error lacks {k}: {err}");
                }
                return (accs, usage);
            }
            Ev::Chunk(c) => c,
        };
        assert_eq!(chunk["id"], ID);
        assert_eq!(chunk["created"], CREATED);
        assert_eq!(chunk["model"], MODEL);
        assert_eq!(chunk["object"], object);
        let choices = chunk["choices"]
            .as_array()
            .unwrap_or_else(|| panic!("no choices array: {chunk}"));
        if include_usage {
            assert!(chunk.get("usage").is_some(), "usage key missing: {chunk}");
        } else {
            assert!(
                chunk.get("usage").is_none(),
                "usage without include_usage: {chunk}"
            );
        }
        if choices.is_empty() {
            assert!(include_usage, "empty choices only for the usage chunk");
            assert!(
                matches!(events.get(i + 1), Some(Ev::Done)),
                "usage chunk right before [DONE]"
            );
            let u = &chunk["usage"];
            assert_eq!(
                u["total_tokens"].as_u64(),
                Some(
                    u["prompt_tokens"].as_u64().unwrap_or(0)
                        + u["completion_tokens"].as_u64().unwrap_or(0)
                )
            );
            usage = Some(u.clone());
            continue;
        }
        if include_usage {
            assert!(chunk["usage"].is_null());
        }
        for c in choices {
            let idx = c["index"].as_u64().unwrap_or_else(|| panic!("index: {c}")) as usize;
            assert!(
                c.get("finish_reason").is_some() && c.get("logprobs").is_some(),
                "{c}"
            );
            if idx >= accs.len() {
                assert_eq!(idx, accs.len(), "choice indexes must first appear in order");
                accs.push(Acc::default());
                calls_seen.push(Vec::new());
                started.push(false);
            }
            let acc = &mut accs[idx];
            assert!(
                acc.finish.is_none(),
                "a choice continues after its finish_reason"
            );
            if let Some(f) = c["finish_reason"].as_str() {
                let allowed: &[&str] = match kind {
                    Kind::Chat => &["stop", "length", "tool_calls", "content_filter"],
                    Kind::Completion => &["stop", "length", "content_filter"],
                };
                assert!(allowed.contains(&f), "finish_reason {f}");
                acc.finish = Some(f.to_owned());
            }
            match kind {
                Kind::Completion => {
                    acc.content += c["text"].as_str().unwrap_or_else(|| panic!("text: {c}"))
                }
                Kind::Chat => {
                    let d = &c["delta"];
                    assert!(d.is_object(), "delta: {c}");
                    assert!(
                        d.get("tool_calls").is_none() || c["finish_reason"].is_null(),
                        "finish_reason must follow the tool-call deltas, not share their chunk: {c}"
                    );
                    let first = !started[idx];
                    started[idx] = true;
                    assert_eq!(
                        d.get("role").is_some(),
                        first,
                        "role only in a choice's first delta: {c}"
                    );
                    if first {
                        // OpenAI's first delta: content "" (null only with a tool call), refusal.
                        let want_str = d.get("tool_calls").is_none();
                        assert_eq!(d["content"].is_string(), want_str, "first content: {c}");
                        assert!(
                            d.get("refusal").is_some(),
                            "first delta without refusal: {c}"
                        );
                    }
                    acc.content += d["content"].as_str().unwrap_or("");
                    for tc in d["tool_calls"].as_array().into_iter().flatten() {
                        let k = tc["index"]
                            .as_u64()
                            .unwrap_or_else(|| panic!("tool index: {tc}"));
                        if calls_seen[idx].contains(&k) {
                            assert!(
                                tc.get("id").is_none() && tc.get("type").is_none(),
                                "id/type repeated: {tc}"
                            );
                            assert!(tc["function"].get("name").is_none(), "name repeated: {tc}");
                            let frag = tc["function"]["arguments"].as_str().unwrap_or("");
                            if let Some(call) = acc.calls.get_mut(k as usize) {
                                call.2 += frag;
                            }
                        } else {
                            assert_eq!(tc["type"], "function", "{tc}");
                            let id = tc["id"]
                                .as_str()
                                .unwrap_or_else(|| panic!("first delta without id: {tc}"));
                            let name = tc["function"]["name"]
                                .as_str()
                                .unwrap_or_else(|| panic!("no name: {tc}"));
                            let args = tc["function"]["arguments"].as_str().unwrap_or("");
                            calls_seen[idx].push(k);
                            acc.calls
                                .push((id.to_owned(), name.to_owned(), args.to_owned()));
                        }
                    }
                }
            }
        }
    }
    (accs, usage)
}

fn run(
    kind: Kind,
    include_usage: bool,
    tools: Option<Tools>,
    pieces: &[&[u8]],
) -> (Vec<u8>, StreamRelay) {
    let mut r = StreamRelay::new(kind, &meta(), include_usage, tools);
    let mut out = Vec::new();
    for p in pieces {
        out.extend(r.feed(p));
    }
    out.extend(r.finish());
    (out, r)
}

fn run_whole(
    kind: Kind,
    include_usage: bool,
    tools: Option<Tools>,
    body: &str,
) -> (Vec<u8>, StreamRelay) {
    run(kind, include_usage, tools, &[body.as_bytes()])
}

fn checked(kind: Kind, include_usage: bool, out: &[u8]) -> (Vec<Acc>, Option<Value>) {
    check(out, kind, include_usage)
}

// --- tests ------------------------------------------------------------------------

#[test]
fn chat_stream_with_usage() {
    let body = chat_stream(&["Hel", "lo", " there"], "stop", true, true);
    let (out, r) = run_whole(Kind::Chat, true, None, &body);
    let (accs, usage) = checked(Kind::Chat, true, &out);
    assert_eq!(
        accs,
        vec![Acc {
            content: "Hello there".into(),
            calls: vec![],
            finish: Some("stop".into())
        }]
    );
    assert_eq!(usage.map(|u| u["total_tokens"].clone()), Some(json!(14)));
    assert!(r.done() && !r.failed() && r.first_byte_sent());
    assert_eq!(
        (r.prompt_tokens(), r.completion_tokens(), r.finish_reason()),
        (Some(11), Some(3), Some("stop"))
    );
    assert_eq!(r.chunks(), 4, "role chunk + 3 content chunks");
    // Non-OpenAI keys and empty reasoning_content are gone.
    let text = String::from_utf8_lossy(&out);
    for junk in [
        "stop_reason",
        "reasoning_content",
        "/models/x",
        "chatcmpl-7",
    ] {
        assert!(!text.contains(junk), "{junk} leaked: {text}");
    }
}

#[test]
fn exact_bytes_of_a_short_stream() {
    let body = chat_stream(&["Hi"], "stop", true, true);
    let (out, _) = run_whole(Kind::Chat, true, None, &body);
    let head = r#"data: {"id":"chatcmpl-gw1","object":"chat.completion.chunk","created":1700000123,"model":"gpt-4o","choices":["#;
    let want = format!(
        "{head}{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n\
         {head}{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}},\"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":null}}\n\n\
         {head}],\"usage\":{{\"prompt_tokens\":11,\"total_tokens\":12,\"completion_tokens\":1,\"prompt_tokens_details\":{{\"cached_tokens\":0}}}}}}\n\n\
         data: [DONE]\n\n"
    );
    assert_eq!(String::from_utf8_lossy(&out), want);
}

#[test]
fn without_include_usage_the_usage_chunk_is_dropped_but_counted() {
    let body = chat_stream(&["a", "b"], "length", true, true);
    let (out, r) = run_whole(Kind::Chat, false, None, &body);
    let (accs, usage) = checked(Kind::Chat, false, &out);
    assert!(usage.is_none());
    assert_eq!(accs[0].finish.as_deref(), Some("length"));
    assert_eq!(
        (r.prompt_tokens(), r.completion_tokens()),
        (Some(11), Some(2))
    );
    assert!(!String::from_utf8_lossy(&out).contains("usage"));
}

#[test]
fn timeout_and_cancelled_map_to_length() {
    for f in ["timeout", "cancelled"] {
        let (out, r) = run_whole(
            Kind::Chat,
            false,
            None,
            &chat_stream(&["x"], f, false, true),
        );
        assert_eq!(
            checked(Kind::Chat, false, &out).0[0].finish.as_deref(),
            Some("length")
        );
        assert_eq!(r.finish_reason(), Some("length"));
    }
}

#[test]
fn completion_stream_relayed() {
    let body = completion_stream(&[" The", " sky", " is"], "length");
    let (out, r) = run_whole(Kind::Completion, true, None, &body);
    let (accs, usage) = checked(Kind::Completion, true, &out);
    assert_eq!(
        accs,
        vec![Acc {
            content: " The sky is".into(),
            calls: vec![],
            finish: Some("length".into())
        }]
    );
    assert!(usage.is_some());
    assert_eq!(
        (r.prompt_tokens(), r.completion_tokens()),
        (Some(4), Some(3))
    );
}

#[test]
fn chat_disconnect_mid_stream_is_an_error_event() {
    let body = chat_stream(&["partial", " answer"], "stop", false, false);
    // Cut the last chunk in half: the worker died mid-write.
    let cut = &body[..body.len() - 30];
    let (out, r) = run_whole(Kind::Chat, true, None, cut);
    let events = parse_events(&out);
    match events.last() {
        Some(Ev::Error(e)) => {
            assert_eq!(e["code"], "upstream_disconnected");
            assert_eq!(e["type"], "server_error");
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    assert!(r.failed() && r.done());
    checked(Kind::Chat, true, &out);
}

#[test]
fn completions_error_event_is_reframed() {
    let body = completion_stream(&["a"], "stop");
    let first = body.split("\n\n").next().unwrap_or_default().to_owned() + "\n\n";
    let err = r#"data: {"error":{"object":"error","message":"engine failed","type":"InternalServerError","param":null,"code":500}}"#;
    let (out, r) = run_whole(
        Kind::Completion,
        false,
        None,
        &(first + err + "\n\ndata: [DONE]\n\n"),
    );
    let events = parse_events(&out);
    assert_eq!(events.len(), 2);
    match &events[1] {
        Ev::Error(e) => {
            assert_eq!(e["message"], "engine failed");
            assert_eq!(e["type"], "server_error");
            assert_eq!(e["param"], Value::Null);
            assert!(e["code"].is_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(r.failed());
    // Flat error as the first event.
    let flat = "data: {\"object\":\"error\",\"message\":\"prompt too long\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}\n\n";
    let (out, _) = run_whole(Kind::Completion, false, None, flat);
    match parse_events(&out).as_slice() {
        [Ev::Error(e)] => assert_eq!(e["type"], "invalid_request_error"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_chunk_ends_the_stream_with_an_error() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {not json\n\ndata: [DONE]\n\n";
    let (out, r) = run_whole(Kind::Chat, false, None, body);
    match parse_events(&out).as_slice() {
        [Ev::Chunk(_), Ev::Error(e)] => assert_eq!(e["code"], "upstream_invalid_chunk"),
        other => panic!("{other:?}"),
    }
    assert!(r.failed());
    for bad in [
        "data: [1,2]\n\n",
        "data: {\"choices\":[{\"index\":\"zero\"}]}\n\n",
        "data: {\"choices\":[{\"index\":99999999}]}\n\n",
    ] {
        let (out, _) = run_whole(Kind::Chat, false, None, bad);
        assert!(
            matches!(parse_events(&out).as_slice(), [Ev::Error(_)]),
            "{bad}"
        );
    }
}

#[test]
fn gateway_error_event_and_nothing_after() {
    let mut r = StreamRelay::new(Kind::Chat, &meta(), false, None);
    let _ = r.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
    let e = r.error_event("timed out", "server_error", Some("upstream_timeout"), None);
    assert_eq!(
        String::from_utf8_lossy(&e),
        "data: {\"error\":{\"message\":\"timed out\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_timeout\"}}\n\n"
    );
    assert!(r.done() && r.failed());
    assert!(r.feed(b"data: [DONE]\n\n").is_empty());
    assert!(r.finish().is_empty());
}

#[test]
fn after_done_the_rest_is_ignored() {
    let mut r = StreamRelay::new(Kind::Chat, &meta(), false, None);
    let out = r.feed(
        b"data: [DONE]\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n",
    );
    assert_eq!(out, b"data: [DONE]\n\n");
    assert!(r.done() && !r.failed());
    assert!(r.finish().is_empty());
}

#[test]
fn two_choices_first_appear_in_order() {
    let obj = "chat.completion.chunk";
    let mut body = String::new();
    // Choice 1 speaks first: the relay must introduce choice 0 before it.
    body += &event(&with(
        head(obj),
        json!({"choices": [{"index": 1, "delta": {"role": "assistant", "content": "B"}}]}),
    ));
    body += &event(&with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "A"}}]}),
    ));
    body += &event(&with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}, {"index": 1, "delta": {}, "finish_reason": "length"}]}),
    ));
    body += "data: [DONE]\n\n";
    let (out, r) = run_whole(Kind::Chat, false, None, &body);
    let (accs, _) = checked(Kind::Chat, false, &out);
    assert_eq!(accs.len(), 2);
    assert_eq!(
        (accs[0].content.as_str(), accs[1].content.as_str()),
        ("A", "B")
    );
    assert_eq!(accs[1].finish.as_deref(), Some("length"));
    assert_eq!(r.finish_reason(), Some("stop"));
}

#[test]
fn structured_tool_calls_are_relayed_with_the_rules() {
    // Qwen through trtllm's parser; and a named tool_choice that repeats the name.
    let deltas = vec![
        json!({"role": "assistant"}),
        json!({"content": "", "tool_calls": [{"id": "chatcmpl-tool-1", "type": "function", "index": 0, "function": {"name": "get_weather", "arguments": ""}}]}),
        json!({"content": "", "tool_calls": [{"type": "function", "index": 0, "function": {"arguments": "{\"city\": "}}]}),
        json!({"content": "", "tool_calls": [{"type": "function", "index": 0, "function": {"name": "get_weather", "arguments": "\"Paris\"}"}}]}),
        json!({"tool_calls": [{"type": "function", "index": 1, "function": {"name": "get_time", "arguments": "{}"}}]}),
    ];
    let body = delta_stream(deltas, json!({"content": ""}));
    let (out, r) = run_whole(Kind::Chat, false, None, &body);
    let (accs, _) = checked(Kind::Chat, false, &out);
    let calls = &accs[0].calls;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0],
        (
            "chatcmpl-tool-1".into(),
            "get_weather".into(),
            "{\"city\": \"Paris\"}".into()
        )
    );
    assert_eq!(calls[1].1, "get_time");
    assert!(calls[1].0.starts_with("call_"), "a missing id is generated");
    assert_eq!(accs[0].finish.as_deref(), Some("tool_calls"));
    assert_eq!(r.finish_reason(), Some("tool_calls"));
}

#[test]
fn a_huge_worker_tool_index_does_not_overflow() {
    let obj = "chat.completion.chunk";
    let tc = json!({"index": u64::MAX, "type": "function", "function": {"name": "get_time", "arguments": "{}"}});
    let body = event(&with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [tc]}}]}),
    )) + &event(&with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": {"content": "{\"name\": \"get_time\", \"parameters\": {}}"}, "finish_reason": "stop"}]}),
    )) + "data: [DONE]\n\n";
    let (out, r) = run_whole(Kind::Chat, false, tools(ChatFamily::Llama3), &body);
    assert!(r.done() && !r.failed());
    assert!(String::from_utf8_lossy(&out).contains("get_time"));
}

const CALL_TEXTS: &[(ChatFamily, &str, &str)] = &[
    (ChatFamily::Llama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", ""),
    (ChatFamily::Llama3, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"get_time\", \"parameters\": {\"tz\": \"CET\"}}<|eom_id|>", ""),
    (ChatFamily::Qwen2, "I will look it up.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "I will look it up."),
    (ChatFamily::Qwen2, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>", ""),
    (ChatFamily::Mistral, "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]", ""),
    (ChatFamily::Mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"Ab3dE6gH9\"}, {\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"CET\\\"}\"}]", ""),
];

#[test]
fn text_tool_calls_become_tool_calls_for_each_family() {
    for &(family, text, content) in CALL_TEXTS {
        let body = chat_stream(&tokens(text), "stop", true, true);
        let (out, r) = run_whole(Kind::Chat, true, tools(family), &body);
        let (accs, _) = checked(Kind::Chat, true, &out);
        let acc = &accs[0];
        assert_eq!(acc.content, content, "{family:?} {text}");
        assert!(!acc.calls.is_empty(), "{family:?} {text}");
        assert_eq!(acc.calls[0].1, "get_weather");
        assert_eq!(acc.calls[0].2, r#"{"city":"Paris"}"#);
        for (k, (id, _, args)) in acc.calls.iter().enumerate() {
            // Mistral's: 9 alphanumerics (its template refuses any other id)
            assert_eq!(
                id,
                &crate::toolcalls::call_id_for(Some(family), ID, 0, k as u32)
            );
            let want = if family == ChatFamily::Mistral { 9 } else { 29 };
            assert_eq!(id.len(), want, "{family:?}");
            assert!(serde_json::from_str::<Value>(args).is_ok_and(|v| v.is_object()));
        }
        assert_eq!(acc.finish.as_deref(), Some("tool_calls"));
        assert_eq!(r.finish_reason(), Some("tool_calls"));
        // The same stream without tools is plain content.
        let (out, _) = run_whole(Kind::Chat, true, None, &body);
        let (accs, _) = checked(Kind::Chat, true, &out);
        assert_eq!((accs[0].content.as_str(), accs[0].calls.len()), (text, 0));
        assert_eq!(accs[0].finish.as_deref(), Some("stop"));
    }
}

#[test]
fn unknown_names_and_broken_calls_stay_content() {
    let texts = [
        (
            ChatFamily::Llama3,
            "{\"name\": \"delete_all\", \"parameters\": {}}",
        ),
        (
            ChatFamily::Qwen2,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>",
        ),
        (
            ChatFamily::Mistral,
            "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par",
        ),
        (ChatFamily::Llama3, "Sure! The weather in Paris is mild."),
        (ChatFamily::Qwen2, "{\"temperature\": 21}"),
    ];
    for (family, text) in texts {
        for done in [true, false] {
            let body = chat_stream(&tokens(text), "stop", false, done);
            let (out, _) = run_whole(Kind::Chat, false, tools(family), &body);
            let (accs, _) = checked(Kind::Chat, false, &out);
            assert_eq!(accs[0].content, text, "{family:?}");
            assert!(accs[0].calls.is_empty());
            if done {
                assert_eq!(accs[0].finish.as_deref(), Some("stop"));
            }
        }
    }
}

#[test]
fn held_text_is_flushed_at_done_when_no_finish_came() {
    // A worker that ends with [DONE] but never sent a finish_reason.
    let obj = "chat.completion.chunk";
    let body = event(&with(
        head(obj),
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "{\"a\": 1"}}]}),
    )) + "data: [DONE]\n\n";
    let (out, _) = run_whole(Kind::Chat, false, tools(ChatFamily::Llama3), &body);
    let (accs, _) = checked(Kind::Chat, false, &out);
    assert_eq!(accs[0].content, "{\"a\": 1");
}

#[test]
fn prose_is_not_delayed_by_tool_detection() {
    let mut r = StreamRelay::new(Kind::Chat, &meta(), false, tools(ChatFamily::Llama3));
    let _ = r.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]} \n\n");
    let out = r.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Paris\"}}]}\n\n");
    assert!(String::from_utf8_lossy(&out).contains("\"content\":\"Paris\""));
    let mut r = StreamRelay::new(Kind::Chat, &meta(), false, tools(ChatFamily::Llama3));
    let out = r.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"{\\\"name\"}}]}\n\n");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("\"role\"") && text.contains("\"content\":\"\",") && !text.contains("name"),
        "a possible call is held: {text}"
    );
}

// --- any split of the upstream bytes gives the same output ------------------------

fn realistic_streams() -> Vec<(Kind, bool, Option<Tools>, String)> {
    let mut v = vec![
        (
            Kind::Chat,
            true,
            None,
            chat_stream(
                &["Gr\u{fc}\u{df}e", " \u{1F600}", "!\n"],
                "stop",
                true,
                true,
            ),
        ),
        (
            Kind::Chat,
            false,
            None,
            chat_stream(&["cut"], "stop", false, false),
        ),
        (
            Kind::Completion,
            true,
            None,
            completion_stream(&[" a", "\u{e9}", " c"], "length"),
        ),
        (
            Kind::Completion,
            false,
            None,
            completion_stream(&["x"], "stop").replace(
                "data: [DONE]",
                "data: {\"error\":{\"message\":\"boom\",\"code\":500}}",
            ),
        ),
        (
            Kind::Chat,
            true,
            None,
            ": keep-alive\n\n".to_owned() + &chat_stream(&["a"], "stop", true, true),
        ),
    ];
    for &(family, text, _) in CALL_TEXTS {
        v.push((
            Kind::Chat,
            true,
            tools(family),
            chat_stream(&tokens(text), "stop", true, true),
        ));
    }
    v
}

fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    pts.sort_unstable();
    let mut pieces = Vec::new();
    let mut prev = 0;
    for p in pts {
        pieces.push(&bytes[prev..p]);
        prev = p;
    }
    pieces.push(&bytes[prev..]);
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_split_gives_the_same_output(
        idx in 0usize..11,
        cuts in proptest::collection::vec(0usize..4000, 0..40),
        eol in prop::sample::select(vec!["\n", "\r\n", "\r"]),
    ) {
        let streams = realistic_streams();
        let (kind, include_usage, tools, body) = &streams[idx % streams.len()];
        let body = body.replace('\n', eol);
        let (whole, _) = run(*kind, *include_usage, tools.clone(), &[body.as_bytes()]);
        let (split, r) = run(*kind, *include_usage, tools.clone(), &split_at(body.as_bytes(), &cuts));
        prop_assert_eq!(&split, &whole);
        checked(*kind, *include_usage, &split);
        prop_assert!(r.done());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), cuts in proptest::collection::vec(0usize..300, 0..6)) {
        for kind in [Kind::Chat, Kind::Completion] {
            let (out, r) = run(kind, true, tools(ChatFamily::Qwen2), &split_at(&data, &cuts));
            prop_assert!(r.done());
            prop_assert!(std::str::from_utf8(&out).is_ok());
        }
    }
}

/// `chat_stream` with trtllm's streamed logprobs on every token chunk.
fn with_logprobs(body: &str) -> String {
    let mut s = String::new();
    for ev in body.split_terminator("\n\n") {
        let data = ev.trim_start_matches("data: ").trim_end();
        let mut v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) => {
                s += ev;
                s += "\n\n";
                continue;
            }
        };
        if let Some(c) = v["choices"].get_mut(0) {
            if let Some(text) = c["delta"]["content"].as_str().map(str::to_owned) {
                let bytes: Vec<u8> = text.clone().into_bytes();
                c["logprobs"] =
                    json!({"content": [{"token": text, "logprob": -0.25, "bytes": bytes}]});
            }
        }
        s += &event(&v);
    }
    s
}

#[test]
fn logprobs_survive_and_take_openais_shape() {
    let (family, text, _) = CALL_TEXTS[2]; // Qwen: prose, then a call
    let body = with_logprobs(&chat_stream(&tokens(text), "stop", true, true));
    for t in [None, tools(family)] {
        let with_tools = t.is_some();
        let (out, _) = run_whole(Kind::Chat, true, t, &body);
        checked(Kind::Chat, true, &out);
        let mut seen = String::new();
        let mut calls = 0;
        for ev in parse_events(&out) {
            let Ev::Chunk(v) = ev else { continue };
            let Some(c) = v["choices"].get(0) else {
                continue;
            };
            calls += c["delta"]["tool_calls"].as_array().map_or(0, Vec::len);
            if c["logprobs"].is_null() {
                continue;
            }
            assert_eq!(c["logprobs"]["refusal"], Value::Null);
            for e in c["logprobs"]["content"].as_array().into_iter().flatten() {
                assert_eq!(e["top_logprobs"], json!([]));
                assert_eq!(e["logprob"], json!(-0.25));
                seen += e["token"].as_str().unwrap_or_default();
            }
        }
        // Every generated token's logprob, including those of the text that became a call.
        assert_eq!(seen, text, "tools: {with_tools}");
        assert_eq!(calls > 0, with_tools);
    }
}

/// `parallel_tool_calls: false`: OpenAI answers at most one call a choice.
fn one_call(kind: Kind, tools: Option<Tools>, body: &str) -> Vec<Acc> {
    let meta = Meta {
        one_tool_call: true,
        ..meta()
    };
    let mut r = StreamRelay::new(kind, &meta, false, tools);
    let mut out = r.feed(body.as_bytes());
    out.extend(r.finish());
    assert_eq!(r.finish_reason(), Some("tool_calls"));
    checked(kind, false, &out).0
}

#[test]
fn without_parallel_calls_only_the_first_text_call_goes_out() {
    for &(family, text, content) in CALL_TEXTS {
        let body = chat_stream(&tokens(text), "stop", false, true);
        let accs = one_call(Kind::Chat, tools(family), &body);
        assert_eq!(accs[0].content, content, "{family:?} {text}");
        assert_eq!(accs[0].calls.len(), 1, "{family:?} {text}");
        assert_eq!(accs[0].calls[0].1, "get_weather");
        assert_eq!(accs[0].calls[0].2, r#"{"city":"Paris"}"#);
    }
}

#[test]
fn without_parallel_calls_only_the_first_worker_call_goes_out() {
    let deltas = vec![
        json!({"role": "assistant", "tool_calls": [{"id": "chatcmpl-tool-1", "index": 0, "function": {"name": "get_weather", "arguments": "{\"city\": "}}]}),
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
        json!({"tool_calls": [{"index": 1, "function": {"name": "get_time", "arguments": "{"}}]}),
        json!({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
        // a worker naming no index: a name opens a call, a bare fragment continues it
        json!({"tool_calls": [{"function": {"name": "get_time", "arguments": "{\"tz\": "}}]}),
        json!({"tool_calls": [{"function": {"arguments": "\"CET\"}"}}]}),
    ];
    let accs = one_call(Kind::Chat, None, &delta_stream(deltas, json!({})));
    assert_eq!(
        accs[0].calls,
        vec![(
            "chatcmpl-tool-1".into(),
            "get_weather".into(),
            "{\"city\": \"Paris\"}".into()
        )]
    );
    assert_eq!(accs[0].finish.as_deref(), Some("tool_calls"));
}
