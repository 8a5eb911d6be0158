//! `Tokenizer`: thin wrapper over `crate::tokens`. Every call takes owned
//! input; large inputs are counted with the GIL released, so counting runs
//! beside other Python threads.

use std::path::PathBuf;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use super::errors::CoreError;
use crate::tokens::{self, CountCache, Family, LoadError, Message, Source, Vocab};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenizer>()?;
    Ok(())
}

fn family(name: &str) -> PyResult<Family> {
    Family::from_name(name).ok_or_else(|| {
        CoreError::new_err(format!(
            "family must be 'llama3', 'qwen2' or 'mistral', not {name:?}"
        ))
    })
}

/// Inputs above this many bytes are counted with the GIL released. Below it,
/// giving the GIL up and taking it back costs more than the count (and can
/// wait a whole switch interval behind another busy thread); repeated texts
/// are cache hits anyway.
const RELEASE_GIL_ABOVE: usize = 16 * 1024;

fn detached<T: Send>(py: Python<'_>, size: usize, f: impl FnOnce() -> T + Send) -> T {
    if size > RELEASE_GIL_ABOVE {
        py.allow_threads(f)
    } else {
        f()
    }
}

#[pyclass(name = "Tokenizer", frozen, module = "provocapi._core")]
pub struct PyTokenizer {
    vocab: Vocab,
    // Counts of repeated texts (system prompts, tools, earlier turns).
    cache: CountCache,
}

#[pymethods]
impl PyTokenizer {
    #[new]
    fn new(py: Python<'_>, path: PathBuf, kind: &str) -> PyResult<Self> {
        let source = Source::from_name(kind).ok_or_else(|| {
            CoreError::new_err(format!(
                "kind must be 'hf', 'qwen-tiktoken' or 'tekken', not {kind:?}"
            ))
        })?;
        let vocab = py
            .allow_threads(|| tokens::load(source, &path))
            .map_err(|e| match e {
                LoadError::Io(io) => PyOSError::new_err(format!("{}: {io}", path.display())),
                LoadError::Invalid(_) => CoreError::new_err(format!("{}: {e}", path.display())),
            })?;
        Ok(PyTokenizer {
            vocab,
            cache: CountCache::new(tokens::cache_capacity()),
        })
    }

    fn encode(&self, py: Python<'_>, text: String) -> Vec<u32> {
        detached(py, text.len(), || self.vocab.encode(&text))
    }

    fn count(&self, py: Python<'_>, text: String) -> usize {
        detached(py, text.len(), || {
            self.cache.get_or_count(&text, |t| self.vocab.count(t))
        })
    }

    fn count_batch(&self, py: Python<'_>, texts: Vec<String>) -> Vec<usize> {
        let size = texts.iter().map(String::len).sum();
        detached(py, size, || {
            texts
                .iter()
                .map(|t| self.cache.get_or_count(t, |t| self.vocab.count(t)))
                .collect()
        })
    }

    #[pyo3(signature = (family_name, messages, tools = Vec::new()))]
    fn count_chat(
        &self,
        py: Python<'_>,
        family_name: &str,
        messages: Vec<(String, String)>,
        tools: Vec<String>,
    ) -> PyResult<usize> {
        let fam = family(family_name)?;
        let msgs: Vec<Message> = messages
            .into_iter()
            .map(|(role, content)| Message { role, content })
            .collect();
        let size = msgs.iter().map(|m| m.content.len()).sum::<usize>()
            + tools.iter().map(String::len).sum::<usize>();
        Ok(detached(py, size, || {
            self.vocab
                .count_segments_cached(&tokens::render(fam, &msgs, &tools), &self.cache)
        }))
    }

    fn special_id(&self, token: &str) -> Option<u32> {
        self.vocab.special_id(token)
    }
}
