use std::collections::HashMap;

use ahash::AHashMap;

use super::*;

/// Bytes a..z, then merges "ab" (300), "abc" (301), "cd" (302): a toy byte-level vocabulary.
fn toy(specials: Vec<(String, u32)>) -> BytePairEncoder {
    let mut ranks: AHashMap<Vec<u8>, u32> = (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
    ranks.insert(b"ab".to_vec(), 300);
    ranks.insert(b"abc".to_vec(), 301);
    ranks.insert(b"cd".to_vec(), 302);
    ranks.insert(b"aa".to_vec(), 303);
    let pattern = Splitter::new(r"\S+|\s+").unwrap();
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

#[test]
fn pieces_past_long_piece_merge_chunk_by_chunk() {
    let b = toy(vec![]);
    let chunk = "ab".repeat(bpe::LONG_PIECE / 2);
    let word = format!("{chunk}{chunk}abc");
    // each chunk merges on its own: "ab" x (LONG_PIECE / 2), twice, then "abc"
    let got = ids(&b, &word);
    assert_eq!(got.len(), bpe::LONG_PIECE + 1);
    assert_eq!(got.last(), Some(&301));
    assert_eq!(b.count(&word), got.len());
    // a multi-byte char is never cut: the chunk ends before it
    let wide = format!("{}é{}", "a".repeat(bpe::LONG_PIECE - 1), "a".repeat(10));
    let wide_ids = ids(&b, &wide);
    assert!(wide_ids.contains(&0xC3) && wide_ids.contains(&0xA9));
    assert_eq!(b.count(&wide), wide_ids.len());
}

#[test]
fn bounded_counts_are_exact_up_to_the_limit_then_stop() {
    let b = toy(vec![("<|im_start|>".into(), 1000)]);
    let text = "ab cd abc <|im_start|> aaaa";
    let full = b.count(text);
    assert_eq!(full, ids(&b, text).len());
    for limit in 0..full + 3 {
        let n = b.count_up_to(text, limit);
        if full <= limit {
            assert_eq!(n, full, "limit {limit}");
        } else {
            assert!(n > limit && n <= full, "limit {limit}: {n}");
        }
    }
    // a huge single word stops within a chunk or so of the limit
    let word = "ab".repeat(4 * bpe::LONG_PIECE);
    let n = b.count_up_to(&word, 10);
    assert!(n > 10 && n <= bpe::LONG_PIECE, "{n}");
    // and many small pieces stop at the piece that passes it
    let words = "ab ".repeat(100_000);
    assert_eq!(b.count_up_to(&words, 1000), 1001);
}

#[test]
fn bounded_segment_counts_stop_and_cache_only_exact_counts() {
    let b = Vocab::Bpe(Box::new(toy(vec![])));
    let content = "ab ".repeat(1000);
    let msgs = vec![Message {
        role: "user",
        content: &content,
    }];
    let segs = render(ChatFamily::Qwen2, &msgs, &[]);
    let cache = CountCache::new(16);
    let full = b.count_segments_cached(&segs, &cache, usize::MAX);
    assert_eq!(full, b.count_segments(&segs));
    let cold = CountCache::new(16);
    let n = b.count_segments_cached(&segs, &cold, 100);
    assert!(n > 100 && n < full, "{n} of {full}");
    assert_eq!(b.count_segments_cached(&segs, &cold, usize::MAX), full);
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
            role: "system",
            content: "Be brief.",
        },
        Message {
            role: "user",
            content: "Hi",
        },
    ];
    let segs = render(ChatFamily::Qwen2, &msgs, &[]);
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
    let m = render(ChatFamily::Mistral, &msgs, &["{\"type\": \"function\"}"]);
    assert_eq!(m[0], Segment::Special("<s>"));
    assert!(m.contains(&Segment::Special("[AVAILABLE_TOOLS]")));
    assert_eq!(m.last(), Some(&Segment::Special("[/INST]")));
    let l = render(ChatFamily::Llama3, &msgs, &[]);
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

// ------------------------------------------- the vocabularies the package ships

/// A tokenizer file shipped in `python/provocapi/vocab/`; a missing one fails the test.
fn shipped_file(inner: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python/provocapi/vocab")
        .join(inner);
    assert!(
        path.is_file(),
        "shipped tokenizer file missing: {}",
        path.display()
    );
    path
}

fn llama_pair() -> (Vocab, tokenizers::Tokenizer) {
    let path = shipped_file("llama3/tokenizer.json");
    let ours = load(Source::HfJson, &path).unwrap();
    assert!(
        matches!(&ours, Vocab::Bpe(b) if b.splits_by_hand()),
        "Llama 3's tokenizer.json is run by our BPE and splitter"
    );
    (ours, tokenizers::Tokenizer::from_file(&path).unwrap())
}

#[test]
fn every_shipped_file_loads_with_its_license_beside_it() {
    for (inner, source) in [
        ("llama3/tokenizer.json", Source::HfJson),
        ("qwen2.5/qwen.tiktoken", Source::QwenTiktoken),
        ("tekken/tekken_240911.json", Source::Tekken),
    ] {
        let path = shipped_file(inner);
        let dir = path.parent().unwrap();
        assert!(
            dir.join("LICENSE").is_file(),
            "{inner}: no LICENSE beside it"
        );
        assert!(dir.join("NOTICE").is_file(), "{inner}: no NOTICE beside it");
        let vocab = load(source, &path).unwrap();
        assert!(vocab.count("Hello, world") > 1, "{inner}");
    }
}

fn hf_ids(t: &tokenizers::Tokenizer, text: &str) -> Vec<u32> {
    t.encode_fast(text, false).unwrap().get_ids().to_vec()
}

fn corpus() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/admission/corpus.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn llama3_ids_match_the_tokenizers_crate_on_the_corpus() {
    let (ours, hf) = llama_pair();
    let all = corpus();
    for text in &all {
        assert_eq!(ours.encode(text), hf_ids(&hf, text), "{text:?}");
        assert_eq!(ours.count(text), hf_ids(&hf, text).len(), "{text:?}");
    }
    let long = all.join("\n").repeat(8);
    assert_eq!(ours.encode(&long), hf_ids(&hf, &long));
    // added tokens written in the text, and the long-piece path
    let odd = format!(
        "<|begin_of_text|>a<|eot_id|><|start_header_id|>x {} {} {}",
        "ab".repeat(300),
        "9".repeat(400),
        "!?".repeat(200)
    );
    assert_eq!(ours.encode(&odd), hf_ids(&hf, &odd));
}

mod shipped {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn llama() -> &'static (Vocab, tokenizers::Tokenizer) {
        static PAIR: OnceLock<(Vocab, tokenizers::Tokenizer)> = OnceLock::new();
        PAIR.get_or_init(llama_pair)
    }

    fn bpe_vocabs() -> &'static Vec<Vocab> {
        static ALL: OnceLock<Vec<Vocab>> = OnceLock::new();
        ALL.get_or_init(|| {
            vec![
                load(Source::QwenTiktoken, &shipped_file("qwen2.5/qwen.tiktoken")).unwrap(),
                load(Source::Tekken, &shipped_file("tekken/tekken_240911.json")).unwrap(),
            ]
        })
    }

    fn text() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec![
            "the",
            " quick",
            " Brown",
            "FOX",
            "'s",
            "'LL",
            " don't",
            "ſ",
            "\n",
            "\r\n",
            "  ",
            "\t",
            " \n ",
            "123456",
            "٣٤",
            "½",
            "é",
            "e\u{301}",
            "Ça",
            "Straße",
            " Быстрая",
            "你好",
            "。",
            "東京タワー",
            "한국어",
            "مرحبا",
            "🙂",
            "👍🏽",
            "!!!",
            "?/",
            "//",
            " ...",
            "{\"a\": [1, 2]}",
            "<|eot_id|>",
            "<|im_start|>",
            "[INST]",
            "fn main() {",
            "    return x;",
            "HTTPServer",
            "camelCase",
            "ʰ",
            "\u{a0}",
            "\u{3000}",
            "\u{2028}",
        ]);
        prop_oneof![
            3 => prop::collection::vec(words, 0..40).prop_map(|w| w.concat()),
            1 => ".{0,80}",
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn llama3_ids_match_the_tokenizers_crate(t in text()) {
            let (ours, hf) = llama();
            prop_assert_eq!(ours.encode(&t), hf_ids(hf, &t));
            prop_assert_eq!(ours.count(&t), ours.encode(&t).len());
        }

        /// Never a panic, and counting agrees with the ids, on any string;
        /// a bounded count is the count up to its limit.
        #[test]
        fn counts_agree_with_ids_and_never_panic(t in text(), limit in 0usize..64) {
            for v in bpe_vocabs() {
                let n = v.count(&t);
                prop_assert_eq!(n, v.encode(&t).len());
                let bounded = v.count_up_to(&t, limit);
                let ok = if n <= limit {
                    bounded == n
                } else {
                    bounded > limit && bounded <= n
                };
                prop_assert!(ok, "{} tokens, limit {}: {}", n, limit, bounded);
            }
        }
    }
}

/// Whole chars (chars.rs) against plain byte-level BPE, on every shipped
/// vocabulary: the same ids for any mixture of scripts.
mod whole_chars {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    const SHIPPED: [(&str, Source); 3] = [
        ("llama3/tokenizer.json", Source::HfJson),
        ("qwen2.5/qwen.tiktoken", Source::QwenTiktoken),
        ("tekken/tekken_240911.json", Source::Tekken),
    ];

    /// Each vocabulary twice: as loaded, and merging bytes only.
    fn pairs() -> &'static Vec<(&'static str, Vocab, Vocab)> {
        static ALL: OnceLock<Vec<(&'static str, Vocab, Vocab)>> = OnceLock::new();
        ALL.get_or_init(|| {
            SHIPPED
                .iter()
                .map(|&(inner, source)| {
                    let path = shipped_file(inner);
                    let fast = load(source, &path).unwrap();
                    let mut plain = load(source, &path).unwrap();
                    match &mut plain {
                        Vocab::Bpe(b) => b.bytes_only(),
                        Vocab::Hf(_) => panic!("{inner} is run by our BPE"),
                    }
                    (inner, fast, plain)
                })
                .collect()
        })
    }

    #[test]
    fn every_shipped_vocabulary_proves_thousands_of_chars() {
        for (inner, fast, _) in pairs() {
            let Vocab::Bpe(b) = fast else {
                panic!("{inner} is run by our BPE")
            };
            println!("{inner}: {} chars merge whole", b.whole_chars());
            assert!(b.whole_chars() > 2000, "{inner}: {}", b.whole_chars());
            assert!(b.merges_by_ids(), "{inner}");
        }
    }

    /// Pieces that stress merging by ids: one char over and over (each
    /// merge's neighbours are the same ids), scripts mixed in one piece,
    /// chars that stay bytes (emoji, combining marks), and pieces past
    /// `SHORT_PIECE` (merged by bytes, with a heap) next to short ones.
    #[test]
    fn adversarial_pieces_give_the_ids_of_byte_level_bpe() {
        let mut texts: Vec<String> = Vec::new();
        for c in [
            'а', 'ё', 'Ж', '中', 'の', '한', 'é', 'ß', 'ー', '\u{301}', '🙂',
        ] {
            for n in [1, 2, 3, 4, 5, 7, 8, 16, 33, 50] {
                let run: String = std::iter::repeat(c).take(n).collect();
                texts.push(format!(" {run}"));
                texts.push(format!("a{run}b"));
                texts.push(run);
            }
        }
        texts.extend(
            [
                "abcдеж中文ab",
                " приветworld",
                "Ёлка-ёлка ёжик",
                "д\u{301}д\u{301}д",
                "日本語テキストと中文字符",
                "\u{FEFF}слово",
                "naïve café résumé",
                "Straße straße STRASSE",
                " \u{a0}中\u{a0}",
                "x🙂y🙂z",
                "ааббввггддееёёжжззииййкк",
            ]
            .map(String::from),
        );
        for (inner, fast, plain) in pairs() {
            for t in &texts {
                let want = plain.encode(t);
                assert_eq!(fast.encode(t), want, "{inner}: {t:?}");
                assert_eq!(fast.count(t), want.len(), "{inner}: {t:?}");
            }
        }
    }

    /// Runs of chars from one script at a time, so words (pieces) form in
    /// every script and long ones reach the heap merge.
    fn text() -> impl Strategy<Value = String> {
        let scripts: Vec<(u32, u32)> = vec![
            (0x20, 0x7E),       // ASCII
            (0x61, 0x7A),       // Latin letters
            (0xA0, 0x24F),      // Latin-1, Latin Extended
            (0x300, 0x36F),     // combining marks
            (0x370, 0x3FF),     // Greek
            (0x400, 0x4FF),     // Cyrillic
            (0x5D0, 0x5EA),     // Hebrew
            (0x600, 0x6FF),     // Arabic
            (0x900, 0x97F),     // Devanagari
            (0x2000, 0x206F),   // general punctuation
            (0x3000, 0x30FF),   // CJK punctuation, kana
            (0x4E00, 0x9FFF),   // CJK ideographs
            (0xAC00, 0xD7A3),   // Hangul
            (0xFF00, 0xFFEF),   // full-width forms
            (0x1F300, 0x1FAFF), // emoji
        ];
        let run = (prop::sample::select(scripts), 1usize..60, any::<u64>()).prop_map(
            |((lo, hi), n, seed)| {
                let mut x = seed | 1;
                (0..n)
                    .filter_map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // the low codepoints of a range are the common ones
                        let span = u64::from(hi - lo + 1);
                        let pick = if x & 1 == 0 {
                            (x >> 8) % span.min(64)
                        } else {
                            (x >> 8) % span
                        };
                        char::from_u32(lo + pick as u32)
                    })
                    .collect::<String>()
            },
        );
        let glue = prop::sample::select(vec!["", "", " ", "\n", ", ", "。", "'s", "1"]);
        prop::collection::vec((run, glue), 1..8).prop_map(|runs| {
            runs.into_iter()
                .map(|(r, g)| format!("{r}{g}"))
                .collect::<String>()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn whole_chars_give_the_ids_of_byte_level_bpe(t in text()) {
            for (inner, fast, plain) in pairs() {
                let want = plain.encode(&t);
                prop_assert_eq!(&fast.encode(&t), &want, "{}", inner);
                prop_assert_eq!(fast.count(&t), want.len(), "{}", inner);
            }
        }
    }
}

#[test]
fn a_special_is_found_by_its_text_and_the_first_of_a_tie_wins() {
    let specials = vec![
        ("<s>".to_string(), 1000),
        ("<s>".to_string(), 1001),
        ("<x>".to_string(), 1002),
    ];
    let mut ranks: AHashMap<Vec<u8>, u32> = (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
    ranks.insert(b"ab".to_vec(), 300);
    let controls: HashMap<String, u32> = [("<x>".to_string(), 7), ("[INST]".to_string(), 3)].into();
    let b = BytePairEncoder::new(
        ranks,
        Splitter::new(r"\S+|\s+").unwrap(),
        specials,
        controls,
        0,
        true,
    );
    // what the text scan picks is what a template segment counts as
    assert_eq!(ids(&b, "<s>"), vec![1000]);
    assert_eq!(b.special_id("<s>"), Some(1000));
    assert_eq!(b.special_id("<x>"), Some(1002)); // a special wins over a control
    assert_eq!(b.special_id("[INST]"), Some(3));
    assert_eq!(b.special_id("<y>"), None);
}

/// Specials are found wherever they start, against the chunks the scan for
/// their first bytes reads (one, three, or more distinct first bytes, the
/// last scanned a byte at a time), after false starts.
#[test]
fn specials_are_found_across_the_scan_chunks() {
    let sets: [&[&str]; 3] = [
        &["<s>"],
        &["<s>", "[s]", "{s}"],
        &["<s>", "[s]", "{s}", "(s)"],
    ];
    for set in sets {
        let specials = set
            .iter()
            .zip(1000..)
            .map(|(t, id)| (t.to_string(), id))
            .collect();
        let ranks: AHashMap<Vec<u8>, u32> = (0u8..=255).map(|b| (vec![b], u32::from(b))).collect();
        let b = BytePairEncoder::new(
            ranks,
            Splitter::new(r"\S+|\s+").unwrap(),
            specials,
            HashMap::new(),
            0,
            true,
        );
        for (k, special) in set.iter().enumerate() {
            let first = &special[..1];
            for before in [0, 1, 30, 31, 32, 33, 63, 64, 65, 100] {
                // a first byte that starts no special, then the special
                let prefix = format!("{}{first}x", "y".repeat(before));
                let text = format!("{prefix}{special}z");
                let mut want: Vec<u32> = prefix.bytes().map(u32::from).collect();
                want.push(1000 + k as u32);
                want.push(u32::from(b'z'));
                assert_eq!(ids(&b, &text), want, "{set:?} {text:?}");
            }
        }
    }
}
