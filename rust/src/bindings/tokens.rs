//! `Tokenizer`: thin wrapper over `crate::tokens`. Texts are borrowed from
//! their Python `str` (no copy under the GIL); large inputs are counted with
//! the GIL released, so counting runs beside other Python threads (the
//! gateway counts large prompts on a thread while its event loop serves).
//! Counts take an optional `limit`: past it counting stops, so a 16 MB prompt
//! costs what its first `limit` tokens cost.

use std::path::PathBuf;

use pyo3::exceptions::PyOSError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList, PyString};

use super::errors::CoreError;
use super::family::chat_family;
use crate::tokens::{self, CountCache, LoadError, Message, Source, Vocab};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenizer>()?;
    Ok(())
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
    // Vocab::id_end, found once (a `tokenizers` vocabulary is scanned for it).
    id_end: u32,
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
        let id_end = vocab.id_end();
        Ok(PyTokenizer {
            vocab,
            id_end,
            cache: CountCache::new(tokens::cache_capacity()),
        })
    }

    fn encode(&self, py: Python<'_>, text: String) -> Vec<u32> {
        detached(py, text.len(), || self.vocab.encode(&text))
    }

    #[pyo3(signature = (text, limit = None))]
    fn count(&self, py: Python<'_>, text: PyBackedStr, limit: Option<usize>) -> usize {
        let limit = limit.unwrap_or(usize::MAX);
        detached(py, text.len(), || self.count_one(&text, limit))
    }

    /// `limit` bounds each text's count.
    #[pyo3(signature = (texts, limit = None))]
    fn count_batch(
        &self,
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        limit: Option<usize>,
    ) -> Vec<usize> {
        let limit = limit.unwrap_or(usize::MAX);
        let size = texts.iter().map(|t| t.len()).sum();
        detached(py, size, || {
            texts.iter().map(|t| self.count_one(t, limit)).collect()
        })
    }

    #[pyo3(signature = (family_name, messages, tools = Vec::new(), limit = None))]
    fn count_chat(
        &self,
        py: Python<'_>,
        family_name: &str,
        messages: Vec<(Bound<'_, PyString>, Bound<'_, PyString>)>,
        tools: Vec<Bound<'_, PyString>>,
        limit: Option<usize>,
    ) -> PyResult<usize> {
        self.count_pairs(py, family_name, &messages, &tools, limit)
    }

    /// `count_chat` of a request's own `messages` (dicts), read in the core: None
    /// when one is not plain (see `plain_messages`), which the caller renders itself.
    #[pyo3(signature = (family_name, messages, tools = Vec::new(), limit = None))]
    fn count_messages(
        &self,
        py: Python<'_>,
        family_name: &str,
        messages: &Bound<'_, PyList>,
        tools: Vec<Bound<'_, PyString>>,
        limit: Option<usize>,
    ) -> PyResult<Option<usize>> {
        match plain_messages(messages)? {
            Some(pairs) => self
                .count_pairs(py, family_name, &pairs, &tools, limit)
                .map(Some),
            None => Ok(None),
        }
    }

    /// Characters (code points) of the contents of plain `messages`, None when
    /// one is not plain: what the caller weighs before counting on the loop.
    #[staticmethod]
    fn message_chars(messages: &Bound<'_, PyList>) -> PyResult<Option<usize>> {
        let Some(pairs) = plain_messages(messages)? else {
            return Ok(None);
        };
        let mut n = 0usize;
        for (_, content) in &pairs {
            n = n.saturating_add(content.len()?);
        }
        Ok(Some(n))
    }

    fn special_id(&self, token: &str) -> Option<u32> {
        self.vocab.special_id(token)
    }

    /// One past the largest token id of the vocabulary (added tokens included).
    #[getter]
    fn id_end(&self) -> u32 {
        self.id_end
    }
}

impl PyTokenizer {
    fn count_pairs(
        &self,
        py: Python<'_>,
        family_name: &str,
        messages: &[(Bound<'_, PyString>, Bound<'_, PyString>)],
        tools: &[Bound<'_, PyString>],
        limit: Option<usize>,
    ) -> PyResult<usize> {
        let fam = chat_family("family", family_name)?;
        // Borrowed from the str objects, which `messages` and `tools` keep alive
        // (and which are immutable) while the GIL is released.
        let msgs = messages
            .iter()
            .map(|(role, content)| {
                Ok(Message {
                    role: role.to_str()?,
                    content: content.to_str()?,
                })
            })
            .collect::<PyResult<Vec<Message<'_>>>>()?;
        let tools = tools
            .iter()
            .map(|t| t.to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        let size = msgs.iter().map(|m| m.content.len()).sum::<usize>()
            + tools.iter().map(|t| t.len()).sum::<usize>();
        Ok(detached(py, size, || {
            self.vocab.count_segments_cached(
                &tokens::render(fam, &msgs, &tools),
                &self.cache,
                limit.unwrap_or(usize::MAX),
            )
        }))
    }

    fn count_one(&self, text: &str, limit: usize) -> usize {
        self.cache
            .get_or_count_up_to(text, limit, |t| self.vocab.count_up_to(t, limit))
    }
}

type Pair<'py> = (Bound<'py, PyString>, Bound<'py, PyString>);

/// (role, content) of each message when every one is plain: an object whose
/// "role" and "content" are strings and whose "tool_calls" is absent or null
/// (the text the gateway renders is then the content alone). None otherwise.
fn plain_messages<'py>(messages: &Bound<'py, PyList>) -> PyResult<Option<Vec<Pair<'py>>>> {
    let py = messages.py();
    // interned once: a key made per lookup costs an allocation and a hash
    let (role_key, content_key) = (intern!(py, "role"), intern!(py, "content"));
    let calls_key = intern!(py, "tool_calls");
    let mut pairs = Vec::with_capacity(messages.len());
    for m in messages.iter() {
        let Ok(dict) = m.downcast_exact::<PyDict>() else {
            return Ok(None);
        };
        let role = dict.get_item(role_key)?;
        let content = dict.get_item(content_key)?;
        if let Some(calls) = dict.get_item(calls_key)? {
            if !calls.is_none() {
                return Ok(None);
            }
        }
        let (Some(role), Some(content)) = (role, content) else {
            return Ok(None);
        };
        let (Ok(role), Ok(content)) = (
            role.downcast_into_exact::<PyString>(),
            content.downcast_into_exact::<PyString>(),
        ) else {
            return Ok(None);
        };
        pairs.push((role, content));
    }
    Ok(Some(pairs))
}
