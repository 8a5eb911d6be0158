//! Token counting with the served model's own tokenizer, so admission and
//! usage agree with what the worker will count.
//!
//! Three kinds of vocabulary file: a Hugging Face `tokenizer.json` (Llama 3),
//! loaded with the `tokenizers` crate; a tiktoken ranks file (Qwen's
//! `qwen.tiktoken`) and Mistral's Tekken JSON, both run by our byte-level BPE.
//! Chat prompts are rendered with each family's chat template (special tokens
//! counted as one each) before counting.

mod bpe;
mod cache;
mod load;
mod template;
#[cfg(test)]
mod tests;
mod vocab;

pub use bpe::BytePairEncoder;
pub use cache::{cache_capacity, CountCache};
pub use load::{load, LoadError, Source};
pub use template::{render, Family, Message, Segment};
pub use vocab::Vocab;
