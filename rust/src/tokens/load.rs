//! Reading vocabulary files. Nothing is fetched: every path is a local file
//! (the built-ins ship inside the Python package, `python/provocapi/vocab/`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use ahash::AHashMap;
use base64::Engine;
use serde::Deserialize;

use super::bpe::BytePairEncoder;
use super::split::{Splitter, QWEN_PATTERN};
use super::vocab::Vocab;

/// Which kind of file, and so which rules go with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Hugging Face `tokenizer.json` (everything is in the file).
    HfJson,
    /// Qwen's `qwen.tiktoken` ranks, with Qwen 2.5's added tokens and NFC.
    QwenTiktoken,
    /// Mistral's Tekken JSON (ids = rank + the number of special tokens).
    Tekken,
}

impl Source {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "hf" => Some(Source::HfJson),
            "qwen-tiktoken" => Some(Source::QwenTiktoken),
            "tekken" => Some(Source::Tekken),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum LoadError {
    Io(std::io::Error),
    Invalid(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "cannot read the tokenizer file: {e}"),
            LoadError::Invalid(why) => write!(f, "not a valid tokenizer file: {why}"),
        }
    }
}

impl std::error::Error for LoadError {}

fn invalid(why: impl fmt::Display) -> LoadError {
    LoadError::Invalid(why.to_string())
}

pub fn load(source: Source, path: &Path) -> Result<Vocab, LoadError> {
    match source {
        Source::HfJson => {
            let data = std::fs::read(path).map_err(LoadError::Io)?;
            if let Some(b) = byte_level_bpe(&data) {
                return Ok(Vocab::Bpe(Box::new(b)));
            }
            tokenizers::Tokenizer::from_bytes(data)
                .map(|t| Vocab::Hf(Box::new(t)))
                .map_err(invalid)
        }
        Source::QwenTiktoken => {
            let text = std::fs::read_to_string(path).map_err(LoadError::Io)?;
            qwen(&text).map(|b| Vocab::Bpe(Box::new(b)))
        }
        Source::Tekken => {
            let text = std::fs::read(path).map_err(LoadError::Io)?;
            tekken(&text).map(|b| Vocab::Bpe(Box::new(b)))
        }
    }
}

/// Qwen 2.5's added tokens, from 151643 on (its tokenizer_config.json).
pub const QWEN25_ADDED: [&str; 22] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
];
pub const QWEN25_FIRST_ADDED: u32 = 151_643;

fn qwen(text: &str) -> Result<BytePairEncoder, LoadError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ranks = AHashMap::with_capacity(152_000);
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let (token, rank) = line
            .split_once(' ')
            .ok_or_else(|| invalid(format!("line {}: expected '<base64> <rank>'", n + 1)))?;
        let bytes = b64
            .decode(token)
            .map_err(|e| invalid(format!("line {}: {e}", n + 1)))?;
        let rank: u32 = rank
            .trim()
            .parse()
            .map_err(|e| invalid(format!("line {}: {e}", n + 1)))?;
        ranks.insert(bytes, rank);
    }
    let specials = QWEN25_ADDED
        .iter()
        .zip(QWEN25_FIRST_ADDED..)
        .map(|(t, id)| ((*t).to_string(), id))
        .collect();
    let pattern = Splitter::new(QWEN_PATTERN).map_err(invalid)?;
    Ok(BytePairEncoder::new(
        ranks,
        pattern,
        specials,
        HashMap::new(),
        0,
        true,
    ))
}

#[derive(Deserialize)]
struct TekkenFile {
    config: TekkenConfig,
    vocab: Vec<TekkenToken>,
    #[serde(default)]
    special_tokens: Vec<TekkenSpecial>,
}

#[derive(Deserialize)]
struct TekkenConfig {
    pattern: String,
    default_vocab_size: usize,
    default_num_special_tokens: usize,
}

#[derive(Deserialize)]
struct TekkenToken {
    rank: u32,
    token_bytes: String,
}

#[derive(Deserialize)]
struct TekkenSpecial {
    rank: u32,
    token_str: String,
}

/// Tekken's control tokens when the file lists none (as mistral-common fills them).
const TEKKEN_CONTROLS: [&str; 20] = [
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
];

fn tekken(data: &[u8]) -> Result<BytePairEncoder, LoadError> {
    let file: TekkenFile = serde_json::from_slice(data).map_err(invalid)?;
    let cfg = &file.config;
    let inner = cfg
        .default_vocab_size
        .checked_sub(cfg.default_num_special_tokens)
        .ok_or_else(|| invalid("default_vocab_size < default_num_special_tokens"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ranks = AHashMap::with_capacity(inner);
    for t in file.vocab.iter().take(inner) {
        let bytes = b64.decode(&t.token_bytes).map_err(invalid)?;
        ranks.insert(bytes, t.rank);
    }
    let controls: HashMap<String, u32> = if file.special_tokens.is_empty() {
        TEKKEN_CONTROLS
            .iter()
            .zip(0u32..)
            .map(|(t, id)| ((*t).to_string(), id))
            .collect()
    } else {
        file.special_tokens
            .iter()
            .map(|s| (s.token_str.clone(), s.rank))
            .collect()
    };
    let offset = u32::try_from(cfg.default_num_special_tokens).map_err(invalid)?;
    let pattern = Splitter::new(&cfg.pattern).map_err(invalid)?;
    Ok(BytePairEncoder::new(
        ranks,
        pattern,
        Vec::new(),
        controls,
        offset,
        false,
    ))
}

/// A `tokenizer.json` that is a tiktoken vocabulary in HF's clothes (Llama 3):
/// a byte-level BPE with no normalizer, split by one regex, whose merges are
/// listed in the order of the ids they make and cover every multi-byte
/// token. Its ids are then tiktoken ranks: merging the lowest-ranked pair
/// first is the lowest merge first, so our BPE gives the `tokenizers` crate's
/// ids (tests compare them). Anything else (None) stays with the crate.
fn byte_level_bpe(data: &[u8]) -> Option<BytePairEncoder> {
    let file: serde_json::Value = serde_json::from_slice(data).ok()?;
    let model = file.get("model")?;
    let flag = |key: &str| model.get(key).map_or(true, |v| v.is_null() || v == false);
    if model.get("type")? != "BPE"
        || !flag("dropout")
        || !flag("continuing_subword_prefix")
        || !flag("end_of_word_suffix")
        || !flag("byte_fallback")
        || !file
            .get("normalizer")
            .map_or(true, serde_json::Value::is_null)
    {
        return None;
    }
    // pre_tokenizer: Split(Regex, Isolated) then ByteLevel without its own regex
    let pre = file
        .get("pre_tokenizer")?
        .get("pretokenizers")?
        .as_array()?;
    let [split, byte_level] = pre.as_slice() else {
        return None;
    };
    let pattern = split.get("pattern")?.get("Regex")?.as_str()?;
    if split.get("type")? != "Split"
        || split.get("behavior")? != "Isolated"
        || split.get("invert")? != false
        || byte_level.get("type")? != "ByteLevel"
        || byte_level.get("use_regex")? != false
        || byte_level.get("add_prefix_space")? != false
    {
        return None;
    }
    let chars = byte_level_chars();
    let vocab = model.get("vocab")?.as_object()?;
    let mut ranks = AHashMap::with_capacity(vocab.len());
    let mut ids_by_text: AHashMap<&str, u32> = AHashMap::with_capacity(vocab.len());
    for (token, id) in vocab {
        let id = u32::try_from(id.as_u64()?).ok()?;
        let bytes = token
            .chars()
            .map(|c| chars.get(&c).copied())
            .collect::<Option<Vec<u8>>>()?;
        ranks.insert(bytes, id);
        ids_by_text.insert(token.as_str(), id);
    }
    // merges in id order, one for every token that is not a single byte
    let merges = model.get("merges")?.as_array()?;
    let mut last = 0u32;
    let mut made = ahash::AHashSet::with_capacity(vocab.len());
    for m in merges {
        let (a, b) = match m {
            serde_json::Value::String(s) => s.split_once(' ')?,
            serde_json::Value::Array(p) => (p.first()?.as_str()?, p.get(1)?.as_str()?),
            _ => return None,
        };
        let id = *ids_by_text.get(format!("{a}{b}").as_str())?;
        if id < last {
            return None;
        }
        last = id;
        made.insert(id);
    }
    let singles = ranks.keys().filter(|k| k.len() == 1).count();
    if singles != 256 || made.len() + 256 != ranks.len() {
        return None;
    }
    let specials = file
        .get("added_tokens")?
        .as_array()?
        .iter()
        .map(|t| {
            let plain = ["single_word", "lstrip", "rstrip", "normalized"]
                .iter()
                .all(|k| t.get(*k).map_or(true, |v| v == false));
            let id = u32::try_from(t.get("id")?.as_u64()?).ok()?;
            plain.then(|| Some((t.get("content")?.as_str()?.to_string(), id)))?
        })
        .collect::<Option<Vec<_>>>()?;
    let splitter = Splitter::new(pattern).ok()?;
    Some(BytePairEncoder::new(
        ranks,
        splitter,
        specials,
        HashMap::new(),
        0,
        false,
    ))
}

/// GPT-2's byte-level alphabet: the char that stands for each byte.
fn byte_level_chars() -> AHashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut map = AHashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0u8..=255 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or('\0')
        };
        map.insert(c, b);
    }
    map
}
