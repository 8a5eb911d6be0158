//! `Tokenizer`: thin wrapper over `crate::tokens`. Every call takes owned
//! input and releases the GIL, so counting runs beside other Python threads.

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::tokens::{self, Family, LoadError, Message, Source, Vocab};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenizer>()?;
    Ok(())
}

fn family(name: &str) -> PyResult<Family> {
    Family::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "family must be 'llama3', 'qwen2' or 'mistral', not {name:?}"
        ))
    })
}

#[pyclass(name = "Tokenizer", frozen, module = "provocapi._core")]
pub struct PyTokenizer {
    vocab: Vocab,
}

#[pymethods]
impl PyTokenizer {
    #[new]
    fn new(py: Python<'_>, path: PathBuf, kind: &str) -> PyResult<Self> {
        let source = Source::from_name(kind).ok_or_else(|| {
            PyValueError::new_err(format!(
                "kind must be 'hf', 'qwen-tiktoken' or 'tekken', not {kind:?}"
            ))
        })?;
        let vocab = py
            .allow_threads(|| tokens::load(source, &path))
            .map_err(|e| match e {
                LoadError::Io(io) => PyOSError::new_err(format!("{}: {io}", path.display())),
                LoadError::Invalid(_) => PyValueError::new_err(format!("{}: {e}", path.display())),
            })?;
        Ok(PyTokenizer { vocab })
    }

    fn encode(&self, py: Python<'_>, text: String) -> Vec<u32> {
        py.allow_threads(|| self.vocab.encode(&text))
    }

    fn count(&self, py: Python<'_>, text: String) -> usize {
        py.allow_threads(|| self.vocab.count(&text))
    }

    fn count_batch(&self, py: Python<'_>, texts: Vec<String>) -> Vec<usize> {
        py.allow_threads(|| texts.iter().map(|t| self.vocab.count(t)).collect())
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
        Ok(py.allow_threads(|| {
            self.vocab
                .count_segments(&tokens::render(fam, &msgs, &tools))
        }))
    }

    fn special_id(&self, token: &str) -> Option<u32> {
        self.vocab.special_id(token)
    }
}
