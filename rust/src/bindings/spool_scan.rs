//! `SpoolScanner`: `crate::spool_scan` for the usage reader. One call per run
//! of plain lines hands back what Python needs, so it loops over none of them.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::errors::CoreError;
use crate::spool_scan::Shape;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SpoolScanner>()?;
    Ok(())
}

#[pyclass(frozen, module = "provocapi._core")]
pub struct SpoolScanner {
    shape: Shape,
}

/// An id the scan found: ASCII by construction (a scan's plain id).
fn id_str<'py>(py: Python<'py>, id: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let s = std::str::from_utf8(id).map_err(|e| CoreError::new_err(e.to_string()))?;
    Ok(PyString::new(py, s))
}

fn ids<'py>(py: Python<'py>, ids: &[&[u8]]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for id in ids {
        list.append(id_str(py, id)?)?;
    }
    Ok(list)
}

type Scanned<'py> = (
    usize,
    Option<Bound<'py, PyBytes>>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    usize,
);

#[pymethods]
impl SpoolScanner {
    #[new]
    #[pyo3(signature = (columns, begin, end))]
    fn new(columns: Vec<String>, begin: i64, end: i64) -> PyResult<Self> {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let shape = Shape::new(&names, begin, end)
            .ok_or_else(|| CoreError::new_err("columns must start with event_id, version"))?;
        Ok(SpoolScanner { shape })
    }

    /// See `_core.pyi`.
    fn scan<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        start: usize,
        limit: usize,
    ) -> PyResult<Scanned<'py>> {
        let run = self.shape.scan(data, start, limit);
        let ends = (!run.ends.is_empty()).then(|| PyBytes::new(py, &run.ends));
        let opens = PyList::empty(py);
        for (id, line) in &run.opens {
            let pair = PyTuple::new(
                py,
                [
                    id_str(py, id)?.into_any(),
                    PyBytes::new(py, line).into_any(),
                ],
            )?;
            opens.append(pair)?;
        }
        Ok((
            run.stop,
            ends,
            ids(py, &run.pops)?,
            ids(py, &run.paired)?,
            opens,
            run.begins,
        ))
    }
}
