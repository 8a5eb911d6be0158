//! Python surface of the relay: `StreamRelay`, `rewrite_response`,
//! `embedding_truncate`, `embedding_json`. Thin: parse arguments, call the
//! core; a worker's garbage is `UpstreamFormatError`, a bad argument `CoreError`.

use super::errors::{CoreError, UpstreamFormatError};
use super::family::chat_family;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::embed;
use crate::relay::{self, Kind, Meta, Tools};

/// Bodies above this size are rewritten with the GIL released; below it the
/// release costs more than it frees.
const RELEASE_GIL_ABOVE: usize = 64 << 10;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<StreamRelay>()?;
    m.add_class::<Rewritten>()?;
    m.add_function(wrap_pyfunction!(rewrite_response, m)?)?;
    m.add_function(wrap_pyfunction!(embedding_truncate, m)?)?;
    m.add_function(wrap_pyfunction!(embedding_json, m)?)?;
    Ok(())
}

fn kind(name: &str) -> PyResult<Kind> {
    Kind::from_name(name).ok_or_else(|| {
        CoreError::new_err(format!("kind must be 'chat' or 'completion', not {name:?}"))
    })
}

fn tools(tool_family: Option<&str>, tool_names: Option<Vec<String>>) -> PyResult<Option<Tools>> {
    let family = tool_family
        .map(|name| chat_family("tool_family", name))
        .transpose()?;
    Ok(Tools::new(family, tool_names.unwrap_or_default()))
}

/// Relays one streamed answer; see `_core.pyi`.
#[pyclass(module = "provocapi._core")]
pub struct StreamRelay {
    inner: relay::StreamRelay,
}

#[pymethods]
impl StreamRelay {
    #[new]
    #[pyo3(signature = (*, kind, public_model, response_id, created, include_usage, tool_family=None, tool_names=None, one_tool_call=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: &str,
        public_model: String,
        response_id: String,
        created: i64,
        include_usage: bool,
        tool_family: Option<&str>,
        tool_names: Option<Vec<String>>,
        one_tool_call: bool,
    ) -> PyResult<Self> {
        let kind = self::kind(kind)?;
        let tools = tools(tool_family, tool_names)?;
        let meta = Meta {
            public_model,
            response_id,
            created,
            one_tool_call,
        };
        Ok(Self {
            inner: relay::StreamRelay::new(kind, &meta, include_usage, tools),
        })
    }

    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.feed(data))
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.finish())
    }

    #[pyo3(signature = (message, r#type, code=None, param=None))]
    fn error_event<'py>(
        &mut self,
        py: Python<'py>,
        message: &str,
        r#type: &str,
        code: Option<&str>,
        param: Option<&str>,
    ) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.error_event(message, r#type, code, param))
    }

    #[getter]
    fn done(&self) -> bool {
        self.inner.done()
    }
    #[getter]
    fn failed(&self) -> bool {
        self.inner.failed()
    }
    #[getter]
    fn prompt_tokens(&self) -> Option<u64> {
        self.inner.prompt_tokens()
    }
    #[getter]
    fn completion_tokens(&self) -> Option<u64> {
        self.inner.completion_tokens()
    }

    #[getter]
    fn generated_text(&self) -> &str {
        self.inner.generated_text()
    }
    #[getter]
    fn finish_reason(&self) -> Option<&'static str> {
        self.inner.finish_reason()
    }
    #[getter]
    fn chunks(&self) -> u64 {
        self.inner.chunks()
    }
    #[getter]
    fn first_byte_sent(&self) -> bool {
        self.inner.first_byte_sent()
    }
}

/// A whole answer rewritten: the body for the client, the worker's usage (None
/// where it sent none, as `StreamRelay`'s getters), choice 0's finish reason.
#[pyclass(name = "Rewritten", frozen, module = "provocapi._core")]
pub struct Rewritten {
    #[pyo3(get)]
    body: Py<PyBytes>,
    #[pyo3(get)]
    prompt_tokens: Option<u64>,
    #[pyo3(get)]
    completion_tokens: Option<u64>,
    #[pyo3(get)]
    finish_reason: Option<&'static str>,
}

#[pyfunction]
#[pyo3(signature = (body, *, kind, public_model, response_id, created, tool_family=None, tool_names=None, one_tool_call=false))]
#[allow(clippy::too_many_arguments)]
fn rewrite_response(
    py: Python<'_>,
    body: &[u8],
    kind: &str,
    public_model: String,
    response_id: String,
    created: i64,
    tool_family: Option<&str>,
    tool_names: Option<Vec<String>>,
    one_tool_call: bool,
) -> PyResult<Rewritten> {
    let kind = self::kind(kind)?;
    let tools = tools(tool_family, tool_names)?;
    let meta = Meta {
        public_model,
        response_id,
        created,
        one_tool_call,
    };
    let run = || relay::rewrite_response(body, kind, &meta, tools.as_ref());
    // `body` borrows an immutable `bytes` object that the caller keeps alive.
    let r = if body.len() > RELEASE_GIL_ABOVE {
        py.allow_threads(run)
    } else {
        run()
    };
    let r = r.map_err(|e| UpstreamFormatError::new_err(e.0))?;
    Ok(Rewritten {
        body: PyBytes::new(py, &r.body).unbind(),
        prompt_tokens: r.prompt_tokens,
        completion_tokens: r.completion_tokens,
        finish_reason: r.finish_reason,
    })
}

#[pyfunction]
fn embedding_truncate<'py>(
    py: Python<'py>,
    raw: &[u8],
    dimensions: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    let dims = usize::try_from(dimensions).map_err(|_| {
        CoreError::new_err(format!("dimensions must be positive, got {dimensions}"))
    })?;
    let out =
        embed::truncate(raw, dims).map_err(|e| UpstreamFormatError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

#[pyfunction]
fn embedding_json<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let out = embed::to_json(raw).map_err(|e| UpstreamFormatError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, &out))
}
