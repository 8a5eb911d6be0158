//! One loaded vocabulary, whatever its file kind.

use super::bpe::BytePairEncoder;
use super::cache::CountCache;
use super::template::Segment;

pub enum Vocab {
    Hf(Box<tokenizers::Tokenizer>),
    Bpe(Box<BytePairEncoder>),
}

impl Vocab {
    /// Token ids of `text`, no BOS/EOS added; added tokens written in the
    /// text count as themselves where the reference tokenizer does so.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self {
            // An encoding error (none is known for valid UTF-8) counts as nothing.
            Vocab::Hf(t) => t
                .encode_fast(text, false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_default(),
            Vocab::Bpe(b) => {
                let mut out = Vec::new();
                b.encode(text, &mut out);
                out
            }
        }
    }

    pub fn count(&self, text: &str) -> usize {
        self.count_up_to(text, usize::MAX)
    }

    /// The count when it is at most `limit`; past it, some number above
    /// `limit` (counting stopped there). A tokenizer run by the `tokenizers`
    /// crate always counts the whole text.
    pub fn count_up_to(&self, text: &str, limit: usize) -> usize {
        if text.is_empty() {
            return 0;
        }
        match self {
            Vocab::Hf(_) => self.encode(text).len(),
            Vocab::Bpe(b) => b.count_up_to(text, limit),
        }
    }

    /// One past the largest token id (added tokens included): a prompt given as
    /// ids must stay below it, or a model would index past its embedding table.
    pub fn id_end(&self) -> u32 {
        match self {
            Vocab::Hf(t) => t
                .get_vocab(true)
                .values()
                .max()
                .map_or(0, |&id| id.saturating_add(1)),
            Vocab::Bpe(b) => b.id_end(),
        }
    }

    pub fn special_id(&self, token: &str) -> Option<u32> {
        match self {
            Vocab::Hf(t) => t.token_to_id(token),
            Vocab::Bpe(b) => b.special_id(token),
        }
    }

    /// A rendered chat prompt: one token per special known to this
    /// vocabulary (an unknown one is counted as its text).
    pub fn count_segments(&self, segments: &[Segment]) -> usize {
        self.count_segments_cached(segments, &CountCache::new(0), usize::MAX)
    }

    /// The same, with text segments' counts reused from `cache` (specials
    /// split the prompt, so each segment's count stands on its own), and
    /// stopped once past `limit` as `count_up_to` is.
    pub fn count_segments_cached(
        &self,
        segments: &[Segment],
        cache: &CountCache,
        limit: usize,
    ) -> usize {
        let mut n = 0usize;
        for s in segments {
            let left = limit.saturating_sub(n);
            n = n.saturating_add(match s {
                Segment::Special(tok) if self.special_id(tok).is_some() => 1,
                Segment::Special(tok) => self.count_up_to(tok, left),
                Segment::Text(text) => {
                    cache.get_or_count_up_to(text, left, |t| self.count_up_to(t, left))
                }
            });
            if n > limit {
                break;
            }
        }
        n
    }
}
