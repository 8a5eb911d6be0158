use std::collections::HashMap;

use ahash::AHashMap;
use fancy_regex::Regex;

use super::*;

/// Bytes a..z, then merges "ab" (300), "abc" (301), "cd" (302): a toy byte-level vocabulary.
fn toy(specials: Vec<(String, u32)>) -> BytePairEncoder {
    let mut ranks: AHashMap<Vec<u8>, u32> = (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
    ranks.insert(b"ab".to_vec(), 300);
    ranks.insert(b"abc".to_vec(), 301);
    ranks.insert(b"cd".to_vec(), 302);
    ranks.insert(b"aa".to_vec(), 303);
    let pattern = Regex::new(r"\S+|\s+").unwrap();
    BytePairEncoder::new(ranks, pattern, specials, HashMap::new(), 0, true)
}

fn ids(b: &BytePairEncoder, text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    b.encode(text, &mut out);
    out
}

#[test]
fn merges_lowest_rank_first() {
    let b = toy(vec![]);
    assert_eq!(ids(&b, "abc"), vec![301]);
    // "ab" (300) first, then "abc" (301) beats "cd" (302)
    assert_eq!(ids(&b, "abcd"), vec![301, u32::from(b'd')]);
    assert_eq!(ids(&b, "ab cd"), vec![300, u32::from(b' '), 302]);
}

#[test]
fn long_pieces_merge_like_short_ones() {
    let b = toy(vec![]);
    for piece in ["aaaaaaab", "abcdabcdabcdaab", "cdcdcdcdaaaaabcabca"] {
        let long = piece.repeat(40); // over SHORT_PIECE bytes: the heap path
        let mut short_ids = Vec::new();
        for _ in 0..40 {
            short_ids.extend(ids(&b, piece));
        }
        // every repeat boundary is also a merge boundary in these strings only if
        // no rank spans it; compare against the quadratic scan instead
        let scan = b_scan(&b, long.as_bytes());
        assert_eq!(ids(&b, &long), scan, "{piece}");
        assert!(!short_ids.is_empty());
    }
}

fn b_scan(b: &BytePairEncoder, piece: &[u8]) -> Vec<u32> {
    // the public encode of one whitespace-free piece, forced through the scan
    let mut out = Vec::new();
    b.merge_with_scan(piece, &mut out);
    out
}

#[test]
fn nfc_and_added_tokens_in_text() {
    let b = toy(vec![
        ("<|im_start|>".into(), 1000),
        ("<tool_call>".into(), 1001),
    ]);
    assert_eq!(ids(&b, "ab<|im_start|>cd"), vec![300, 1000, 302]);
    assert_eq!(ids(&b, "<tool_call><tool_call>"), vec![1001, 1001]);
    // e + combining acute (NFD) becomes é (NFC): two bytes, not three
    assert_eq!(ids(&b, "e\u{301}").len(), 2);
}

#[test]
fn templates_count_specials_once() {
    let msgs = vec![
        Message {
            role: "system".into(),
            content: "Be brief.".into(),
        },
        Message {
            role: "user".into(),
            content: "Hi".into(),
        },
    ];
    let segs = render(Family::Qwen2, &msgs, &[]);
    assert_eq!(
        segs,
        vec![
            Segment::Special("<|im_start|>"),
            Segment::Text("system\nBe brief.".into()),
            Segment::Special("<|im_end|>"),
            Segment::Text("\n".into()),
            Segment::Special("<|im_start|>"),
            Segment::Text("user\nHi".into()),
            Segment::Special("<|im_end|>"),
            Segment::Text("\n".into()),
            Segment::Special("<|im_start|>"),
            Segment::Text("assistant\n".into()),
        ]
    );
    let m = render(Family::Mistral, &msgs, &["{\"type\": \"function\"}".into()]);
    assert_eq!(m[0], Segment::Special("<s>"));
    assert!(m.contains(&Segment::Special("[AVAILABLE_TOOLS]")));
    assert_eq!(m.last(), Some(&Segment::Special("[/INST]")));
    let l = render(Family::Llama3, &msgs, &[]);
    assert_eq!(
        l.iter()
            .filter(|s| matches!(s, Segment::Special(_)))
            .count(),
        9
    );
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let missing = std::path::Path::new("/nonexistent/tokenizer.json");
    for source in [Source::HfJson, Source::QwenTiktoken, Source::Tekken] {
        assert!(load(source, missing).is_err());
    }
    let dir = std::env::temp_dir().join(format!("provocapi-tok-{}", std::process::id()));
    std::fs::write(&dir, "not base64 at all\n").unwrap();
    assert!(matches!(
        load(Source::QwenTiktoken, &dir),
        Err(LoadError::Invalid(_))
    ));
    assert!(matches!(
        load(Source::Tekken, &dir),
        Err(LoadError::Invalid(_))
    ));
    let _ = std::fs::remove_file(&dir);
}
