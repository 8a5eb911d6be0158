//! Token counting with the served model's own tokenizer, so admission and
//! usage agree with what the worker will count.
//!
//! Three kinds of vocabulary file: a Hugging Face `tokenizer.json`, a tiktoken
//! ranks file (Qwen's `qwen.tiktoken`) and Mistral's Tekken JSON. All three
//! shipped vocabularies run on our byte-level BPE (`bpe`) with hand-written
//! pre-tokenizers (`split`): Llama 3's tokenizer.json is tiktoken ranks in HF
//! form, so its ids are the crate's (tested). Any other tokenizer.json is
//! loaded with the `tokenizers` crate, and an unknown split pattern runs on
//! fancy-regex.
//! The BPE looks ranks up in `ranks` (inline keys, a flat byte-pair table),
//! starts from whole chars where the vocabulary proves it safe (`chars`),
//! merges pieces past ASCII by part ids (`merges`)
//! and Qwen's NFC check settles common scripts by range (`nfc`): counting
//! text never seen is faster than tiktoken on every shipped vocabulary
//! (bench/count_unique.py).
//! Chat prompts are rendered with each family's chat template (special tokens
//! counted as one each) before counting.

mod bpe;
mod cache;
mod chars;
mod load;
mod merges;
mod nfc;
mod ranks;
mod split;
mod template;
#[cfg(test)]
mod tests;
mod vocab;

pub use crate::family::ChatFamily;
pub use bpe::BytePairEncoder;
pub use cache::{cache_capacity, CountCache};
pub use load::{load, LoadError, Source};
pub use split::{Splitter, LLAMA3_PATTERN, QWEN_PATTERN, TEKKEN_PATTERN};
pub use template::{render, Message, Segment};
pub use vocab::Vocab;
