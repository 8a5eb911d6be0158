//! The fast path against the general one: where it answers, the same bytes.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use super::fast_answer::rewrite;
use super::{rewrite_general, Kind, Meta};

fn meta() -> Meta {
    Meta {
        public_model: "llama-3.1-8b-instruct".into(),
        response_id: "chatcmpl-abc\u{e9}\"".into(),
        created: 1_700_000_000,
        one_tool_call: false,
    }
}

/// None when the fast path declines; panics when it answers otherwise than the general one.
fn check(body: &[u8], kind: Kind) -> Option<()> {
    let fast = rewrite(body, kind, &meta())?;
    let text = String::from_utf8_lossy(body);
    let general = rewrite_general(body, kind, &meta(), None)
        .unwrap_or_else(|e| panic!("fast path took a body the general one refuses ({e}): {text}"));
    assert_eq!(
        String::from_utf8_lossy(&fast.body),
        String::from_utf8_lossy(&general.body),
        "{text}"
    );
    assert_eq!(
        (
            fast.prompt_tokens,
            fast.completion_tokens,
            fast.finish_reason
        ),
        (
            general.prompt_tokens,
            general.completion_tokens,
            general.finish_reason
        ),
        "{text}"
    );
    Some(())
}

// What the simulator (python/provocapi/sim/render_trtllm.py) answers to bench/floor.py's body.
const SIM_CHAT: &str = r#"{"id":"chatcmpl-9440f3eeb51e6459eb7d7a73f6dfdcf1","object":"chat.completion","created":1796516860,"model":"llama-3.1-8b-instruct","choices":[{"index":0,"message":{"role":"assistant","content":"it silver winter thunder horizon saddle from token window yellow island glacier quartz words every garden planet castle ember pebble simulated predict paper forest pencil canyon oasis with can cloud harbor rocket falcon nectar answers tests light signal meadow marble maple model so stone engine bridge lantern lemon quick list river music mirror copper kettle the fixed sends orange candle velvet jasmine tulip a","reasoning_content":"","reasoning":null,"tool_calls":[]},"logprobs":null,"finish_reason":"stop","stop_reason":null,"mm_embedding_handle":null,"disaggregated_params":null,"avg_decoded_tokens_per_iter":null}],"usage":{"prompt_tokens":189,"total_tokens":253,"completion_tokens":64,"prompt_tokens_details":{"cached_tokens":0}},"prompt_token_ids":null,"prompt_token_ids_b64":null}"#;
const SIM_COMPLETION: &str = r#"{"id":"cmpl-aeda80d892b501496637f08c499f5e4e","object":"text_completion","created":1796516860,"model":"llama-3.1-8b-instruct","choices":[{"index":0,"text":"token harbor copper quartz tests orange castle maple a paper bridge horizon with river yellow falcon the every signal velvet pebble so silver pencil lemon from cloud mirror glacier answers sends planet marble tulip predict engine thunder oasis list window rocket kettle words light candle ember model it forest lantern saddle can music island nectar fixed garden meadow jasmine simulated stone winter canyon quick","token_ids":null,"logprobs":null,"context_logits":null,"finish_reason":"stop","stop_reason":null,"disaggregated_params":null,"avg_decoded_tokens_per_iter":null}],"usage":{"prompt_tokens":7,"total_tokens":71,"completion_tokens":64,"prompt_tokens_details":{"cached_tokens":0}},"prompt_token_ids":null}"#;

#[test]
fn the_simulators_answers_take_the_fast_path() {
    assert!(check(SIM_CHAT.as_bytes(), Kind::Chat).is_some());
    assert!(check(SIM_COMPLETION.as_bytes(), Kind::Completion).is_some());
    // the same bodies with json.dumps' default separators, and pretty-printed
    for body in [SIM_CHAT, SIM_COMPLETION] {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let kind = if body.contains("\"text\"") {
            Kind::Completion
        } else {
            Kind::Chat
        };
        let spaced = body.replace("\",\"", "\", \"").replace("\":", "\": ");
        let pretty = serde_json::to_string_pretty(&v).unwrap_or_default();
        for b in [spaced, pretty] {
            assert!(check(b.as_bytes(), kind).is_some(), "{b}");
        }
    }
}

#[test]
fn usual_variants_take_the_fast_path() {
    for (body, kind) in [
        // escapes serde_json writes the same, unicode, 0x7f, several choices
        (
            r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"a\"b\\c\nd\te\u0001\u001f é😀","refusal":"no","reasoning_content":"hm"},"finish_reason":"timeout"},{"index":1,"message":null,"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            Kind::Chat,
        ),
        // usage with nulls, no choices' index, content not a string
        (
            r#"{"usage":{"total_tokens":null,"prompt_tokens":3,"completion_tokens_details":{"reasoning_tokens":0,"x":null},"prompt_tokens_details":null,"extra":[1,{"a":"\/"}]},"choices":[{"message":{"content":5,"tool_calls":null}}]}"#,
            Kind::Chat,
        ),
        (
            r#"{"choices":[{"text":null,"finish_reason":"length"},{"index":3,"text":"x"}],"usage":null}"#,
            Kind::Completion,
        ),
        (r#"{"choices":[]}"#, Kind::Chat),
    ] {
        assert!(check(body.as_bytes(), kind).is_some(), "{body}");
    }
}

#[test]
fn unusual_bodies_are_left_to_the_general_path() {
    for (body, kind) in [
        // strings serde_json would write otherwise
        (
            r#"{"choices":[{"message":{"content":"a\/b"}}]}"#,
            Kind::Chat,
        ),
        (
            r#"{"choices":[{"message":{"content":"\u00e9"}}]}"#,
            Kind::Chat,
        ),
        (
            r#"{"choices":[{"message":{"content":"\u001F"}}]}"#,
            Kind::Chat,
        ),
        (
            r#"{"choices":[{"message":{"content":"\u000a"}}]}"#,
            Kind::Chat,
        ),
        (r#"{"choices":[{"text":"\ud83d\ude00"}]}"#, Kind::Completion),
        // repeated or escaped keys
        (r#"{"choices":[],"choices":[]}"#, Kind::Chat),
        (
            r#"{"choices":[{"message":{"content":"a","content":"b"}}]}"#,
            Kind::Chat,
        ),
        (r#"{"ch\u006fices":[]}"#, Kind::Chat),
        (
            r#"{"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#,
            Kind::Chat,
        ),
        // what the general path reshapes or refuses
        (
            r#"{"choices":[{"message":{"content":"a"},"logprobs":{"content":[]}}]}"#,
            Kind::Chat,
        ),
        (
            r#"{"choices":[{"message":{"content":"","tool_calls":[{"function":{"name":"f"}}]}}]}"#,
            Kind::Chat,
        ),
        (
            r#"{"choices":[],"usage":{"prompt_tokens":1.0}}"#,
            Kind::Chat,
        ),
        (r#"{"choices":[],"usage":{"prompt_tokens":-1}}"#, Kind::Chat),
        (
            r#"{"choices":[],"usage":{"prompt_tokens":18446744073709551616}}"#,
            Kind::Chat,
        ),
        (r#"{"choices":[],"x":1e400}"#, Kind::Chat),
        (r#"{"choices":[{"message":[]}]}"#, Kind::Chat),
        (r#"{"choices":[1]}"#, Kind::Chat),
        (r#"{"choices":3}"#, Kind::Chat),
        (r#"{}"#, Kind::Chat),
        (r#"{"choices":[]} x"#, Kind::Chat),
        (r#"{"choices":[],}"#, Kind::Chat),
        (r#"{"choices":[],"x":01}"#, Kind::Chat),
        ("{\"choices\":[],\"x\":\"\u{1}\"}", Kind::Chat),
        ("", Kind::Chat),
    ] {
        assert!(rewrite(body.as_bytes(), kind, &meta()).is_none(), "{body}");
    }
    let deep = format!(
        "{{\"choices\":[],\"x\":{}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(rewrite(deep.as_bytes(), Kind::Chat, &meta()).is_none());
}

// --- generated bodies around the usual shape ---

/// Whitespace between tokens: mostly none, as trtllm-serve writes.
fn ws() -> BoxedStrategy<String> {
    prop_oneof![
        24 => Just(String::new()),
        4 => Just(" ".to_owned()),
        4 => prop::sample::select(vec!["\n", "\t", " \r\n  "]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// A JSON string literal, each character written one of several valid (or not) ways.
fn jstr() -> BoxedStrategy<String> {
    let chars = prop::sample::select(vec![
        'a',
        'b',
        'z',
        ' ',
        '0',
        '"',
        '\\',
        '/',
        '\n',
        '\t',
        '\r',
        '\u{8}',
        '\u{c}',
        '\u{0}',
        '\u{1}',
        '\u{1f}',
        '\u{7f}',
        '\u{e9}',
        '\u{2028}',
        '\u{1F600}',
        '\u{fffd}',
        '\u{d7ff}',
    ]);
    let plain = "[a-z ]{0,12}";
    prop_oneof![
        30 => plain.prop_map(|s| format!("\"{s}\"")),
        20 => prop::collection::vec((chars, 0u8..40), 0..10).prop_map(|cs| {
            let mut out = String::from("\"");
            for (c, mode) in cs {
                encode(&mut out, c, mode);
            }
            out.push('"');
            out
        }),
        // not JSON
        1 => prop::sample::select(vec!["\"\\x\"", "\"\u{1}\"", "\"a", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\\ud800\""]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn encode(out: &mut String, c: char, mode: u8) {
    let u = |out: &mut String, c: char, upper: bool| {
        let mut buf = [0u16; 2];
        for unit in c.encode_utf16(&mut buf) {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    };
    match mode {
        // as serde_json writes it
        0..=36 => {
            let mut b = Vec::new();
            super::json_out::str_lit(&mut b, &c.to_string());
            let s = String::from_utf8_lossy(b.get(1..b.len() - 1).unwrap_or_default());
            out.push_str(&s);
        }
        37 => u(out, c, false),
        38 => u(out, c, true),
        // `\/`, or raw where JSON allows it
        _ if c == '/' => out.push_str("\\/"),
        _ if c >= ' ' && c != '"' && c != '\\' => out.push(c),
        _ => encode(out, c, 0),
    }
}

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        12 => (0u64..100_000).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        3 => prop::sample::select(vec![
            "-1", "-0", "0.0", "1.5", "2.0", "1e3", "1E-2", "18446744073709551616",
            "123456789012345678901234567890123456789012345", "9223372036854775808", "-9223372036854775809",
        ])
        .prop_map(str::to_owned),
        // not JSON
        1 => prop::sample::select(vec!["01", "-", "1.", "+1", ".5"]).prop_map(str::to_owned),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        8 => number(),
        8 => jstr(),
        8 => Just("null".to_owned()),
        1 => prop::sample::select(vec!["true", "false", "[]", "{}"]).prop_map(str::to_owned),
        // not JSON
        1 => prop::sample::select(vec!["nul", "True", "'a'", ""]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// Any value, nested a little.
fn value() -> BoxedStrategy<String> {
    scalar()
        .prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone()), 0..4).prop_map(|items| {
                    let items: Vec<String> = items.into_iter().map(|(w, v)| w + &v).collect();
                    format!("[{}]", items.join(","))
                }),
                prop::collection::vec((jstr(), inner, ws()), 0..4).prop_map(|entries| {
                    let e: Vec<String> = entries
                        .into_iter()
                        .map(|(k, v, w)| format!("{k}{w}:{w}{v}"))
                        .collect();
                    format!("{{{}}}", e.join(","))
                }),
            ]
        })
        .boxed()
}

/// An object from (key, value) entries, with random whitespace around tokens.
fn object(entries: Vec<(String, String)>, spaces: Vec<String>) -> String {
    let mut sp = spaces.into_iter().cycle();
    let mut next = || sp.next().unwrap_or_default();
    let mut out = format!("{{{}", next());
    for (n, (k, v)) in entries.into_iter().enumerate() {
        if n > 0 {
            out.push_str(&format!(",{}", next()));
        }
        out.push_str(&format!("\"{k}\"{}:{}{v}{}", next(), next(), next()));
    }
    out.push('}');
    out
}

fn spaces() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(ws(), 1..8)
}

/// Keys and values for one object: `usual` in order, each kept or not, sometimes a few
/// more picked from `pool` (repeats and unknown keys included), sometimes reversed.
fn entries(
    usual: Vec<(&'static str, BoxedStrategy<String>)>,
    pool: Vec<(&'static str, BoxedStrategy<String>)>,
) -> BoxedStrategy<Vec<(String, String)>> {
    let usual: Vec<_> = usual
        .into_iter()
        .map(|(k, v)| {
            (prop::bool::weighted(0.9), v)
                .prop_map(move |(keep, v)| keep.then(|| (k.to_owned(), v)))
        })
        .collect();
    let pool: Vec<BoxedStrategy<(String, String)>> = pool
        .into_iter()
        .map(|(k, v)| v.prop_map(move |v| (k.to_owned(), v)).boxed())
        .collect();
    let extra = prop::collection::vec(prop::strategy::Union::new(pool), 0..3);
    let flags = (prop::bool::weighted(0.12), prop::bool::weighted(0.3));
    (usual, extra, flags)
        .prop_map(|(usual, extra, (more, reverse))| {
            let mut all: Vec<(String, String)> = usual.into_iter().flatten().collect();
            if more {
                all.extend(extra);
            }
            if reverse {
                all.reverse();
            }
            all
        })
        .boxed()
}

fn message() -> BoxedStrategy<String> {
    let content = || prop_oneof![5 => jstr(), 1 => scalar()].boxed();
    let calls = || {
        prop_oneof![
            4 => Just("[]".to_owned()),
            1 => Just("null".to_owned()),
            1 => Just(r#"[{"id":"x","function":{"name":"f","arguments":"{}"}}]"#.to_owned()),
            1 => value(),
        ]
        .boxed()
    };
    let usual = vec![
        ("role", Just("\"assistant\"".to_owned()).boxed()),
        ("content", content()),
        (
            "reasoning_content",
            prop_oneof![Just("\"\"".to_owned()), jstr(), scalar()].boxed(),
        ),
        ("reasoning", Just("null".to_owned()).boxed()),
        ("tool_calls", calls()),
    ];
    let pool = vec![
        ("content", content()),
        ("refusal", content()),
        ("tool_calls", calls()),
        ("role", scalar()),
        ("other", value()),
    ];
    (entries(usual, pool), spaces())
        .prop_map(|(e, s)| object(e, s))
        .boxed()
}

fn choice(kind: Kind) -> BoxedStrategy<String> {
    let index = || prop_oneof![5 => (0u64..4).prop_map(|n| n.to_string()), 1 => scalar()].boxed();
    let finish = || {
        prop_oneof![
            5 => prop::sample::select(vec!["\"stop\"", "\"length\"", "\"timeout\"", "\"cancelled\"", "\"tool_calls\"", "\"abort\"", "\"st\\u006fp\"", "null"]).prop_map(str::to_owned),
            1 => scalar(),
        ]
        .boxed()
    };
    let logprobs = || prop_oneof![5 => Just("null".to_owned()), 1 => value()].boxed();
    let body = || match kind {
        Kind::Chat => (
            "message",
            prop_oneof![8 => message(), 1 => scalar()].boxed(),
        ),
        Kind::Completion => ("text", prop_oneof![8 => jstr(), 1 => scalar()].boxed()),
    };
    let usual = vec![
        ("index", index()),
        body(),
        ("logprobs", logprobs()),
        ("finish_reason", finish()),
        (
            "stop_reason",
            prop_oneof![Just("null".to_owned()), number()].boxed(),
        ),
        ("disaggregated_params", Just("null".to_owned()).boxed()),
    ];
    let pool = vec![
        ("index", index()),
        body(),
        ("finish_reason", finish()),
        ("logprobs", logprobs()),
        ("token_ids", value()),
    ];
    (entries(usual, pool), spaces())
        .prop_map(|(e, s)| object(e, s))
        .boxed()
}

fn usage() -> BoxedStrategy<String> {
    let count =
        || prop_oneof![6 => (0u64..1000).prop_map(|n| n.to_string()), 1 => scalar()].boxed();
    let details = || {
        prop_oneof![
            4 => (0u64..10).prop_map(|n| format!("{{\"cached_tokens\":{n}}}")),
            1 => Just("null".to_owned()),
            1 => Just("{}".to_owned()),
            1 => Just(r#"{"a":null, "b" : 2}"#.to_owned()),
            1 => Just(r#"{"a":1,"a":2}"#.to_owned()),
            1 => value(),
        ]
        .boxed()
    };
    let usual = vec![
        ("prompt_tokens", count()),
        ("total_tokens", count()),
        ("completion_tokens", count()),
        ("prompt_tokens_details", details()),
    ];
    let pool = vec![
        ("prompt_tokens", count()),
        ("completion_tokens_details", details()),
        ("total_tokens", count()),
        ("other", value()),
    ];
    (entries(usual, pool), spaces())
        .prop_map(|(e, s)| object(e, s))
        .boxed()
}

fn body(kind: Kind) -> BoxedStrategy<String> {
    let choices = (prop::collection::vec((choice(kind), ws()), 0..4), ws()).prop_map(|(cs, w)| {
        let cs: Vec<String> = cs.into_iter().map(|(c, w)| c + &w).collect();
        format!("[{w}{}]", cs.join(","))
    });
    let usual = vec![
        ("id", jstr()),
        ("object", Just("\"chat.completion\"".to_owned()).boxed()),
        ("created", number()),
        ("model", jstr()),
        (
            "choices",
            prop_oneof![9 => choices.boxed(), 1 => value()].boxed(),
        ),
        ("usage", prop_oneof![9 => usage(), 1 => scalar()].boxed()),
        (
            "prompt_token_ids",
            prop_oneof![Just("null".to_owned()), value()].boxed(),
        ),
    ];
    let pool = vec![
        ("choices", Just("[]".to_owned()).boxed()),
        ("usage", usage()),
        ("x", value()),
    ];
    // around the body, now and then something that is not JSON whitespace
    let edge = || prop_oneof![8 => ws(), 1 => prop::sample::select(vec!["\u{a0}", "\u{c}", "\u{feff}"]).prop_map(str::to_owned)];
    (
        entries(usual, pool),
        spaces(),
        edge(),
        edge(),
        prop_oneof![20 => Just(""), 1 => prop::sample::select(vec!["x", "}", ","])],
    )
        .prop_map(|(e, s, before, after, tail)| format!("{before}{}{after}{tail}", object(e, s)))
        .boxed()
}

fn kind_and_body() -> BoxedStrategy<(Kind, String)> {
    prop_oneof![
        3 => body(Kind::Chat).prop_map(|b| (Kind::Chat, b)),
        1 => body(Kind::Completion).prop_map(|b| (Kind::Completion, b)),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(Config::with_cases(3000))]

    #[test]
    fn fast_path_answers_as_the_general_one((kind, body) in kind_and_body()) {
        check(body.as_bytes(), kind);
    }
}

/// The generated bodies are not all refused: the property above checks real answers
/// (about 14% take the fast path, a third of those the general path accepts).
#[test]
fn generated_bodies_often_take_the_fast_path() {
    let mut runner = TestRunner::deterministic();
    let strategy = kind_and_body();
    let (mut taken, total) = (0, 2000);
    for _ in 0..total {
        let (kind, body) = strategy
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("{e}"))
            .current();
        if check(body.as_bytes(), kind).is_some() {
            taken += 1;
        }
    }
    assert!(
        taken * 10 > total,
        "only {taken} of {total} took the fast path"
    );
}
