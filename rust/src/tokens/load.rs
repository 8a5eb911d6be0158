//! Reading vocabulary files. Nothing is fetched: every path is a local file
//! (the set-up installs them from PyPI packages).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use ahash::AHashMap;
use base64::Engine;
use fancy_regex::Regex;
use serde::Deserialize;

use super::bpe::BytePairEncoder;
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

/// Qwen's split pattern (the same in `qwen.tiktoken`'s loader and Qwen 2.5's tokenizer.json).
const QWEN_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

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
    let pattern = Regex::new(QWEN_PATTERN).map_err(invalid)?;
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
    let pattern = Regex::new(&cfg.pattern).map_err(invalid)?;
    Ok(BytePairEncoder::new(
        ranks,
        pattern,
        Vec::new(),
        controls,
        offset,
        false,
    ))
}
