//! `BucketSet`: a thin wrapper over `crate::buckets`.
//! A check is a few atomic operations, so none releases the GIL.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::state::{state_err, PyStateTable};
use crate::buckets::{self, Bucket, Unit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBucketSet>()?;
    m.add_class::<PyVerdict>()?;
    Ok(())
}

type Headers<'py> = Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>;

fn headers<'py>(py: Python<'py>, hs: &[(&'static str, String)]) -> Headers<'py> {
    hs.iter()
        .map(|(k, v)| {
            (
                PyBytes::new(py, k.as_bytes()),
                PyBytes::new(py, v.as_bytes()),
            )
        })
        .collect()
}

/// One admission check: `refused` is the index of the bucket that said no (None:
/// admitted); `never` when the ask exceeds that bucket's capacity; `wait_ns` until
/// it would fit; `used`, the units in use there; `headers`, the x-ratelimit-* ones.
#[pyclass(name = "Verdict", frozen, module = "provocapi._core")]
pub struct PyVerdict {
    #[pyo3(get)]
    refused: Option<usize>,
    #[pyo3(get)]
    never: bool,
    #[pyo3(get)]
    wait_ns: i64,
    #[pyo3(get)]
    used: i64,
    #[pyo3(get)]
    headers: Py<PyList>,
}

#[pymethods]
impl PyVerdict {
    #[getter]
    fn admitted(&self) -> bool {
        self.refused.is_none()
    }

    fn __repr__(&self) -> String {
        let refused = self.refused.map_or("None".to_string(), |i| i.to_string());
        let never = if self.never { "True" } else { "False" };
        format!(
            "Verdict(refused={refused}, never={never}, wait_ns={}, used={})",
            self.wait_ns, self.used
        )
    }
}

#[pyclass(name = "BucketSet", frozen, module = "provocapi._core")]
pub struct PyBucketSet {
    inner: buckets::BucketSet,
}

#[pymethods]
impl PyBucketSet {
    /// `buckets`: (slot, field, limit per minute, counts tokens) each.
    #[new]
    fn new(
        table: &Bound<'_, PyStateTable>,
        buckets: Vec<(usize, usize, i64, bool)>,
    ) -> PyResult<Self> {
        let list = buckets
            .into_iter()
            .map(|(slot, field, limit, tokens)| Bucket {
                slot,
                field,
                limit: limit.max(1),
                unit: if tokens { Unit::Tokens } else { Unit::Requests },
            })
            .collect();
        let inner =
            buckets::BucketSet::new(Arc::clone(&table.get().inner), list).map_err(state_err)?;
        Ok(PyBucketSet { inner })
    }

    #[getter]
    fn limits(&self) -> Vec<(i64, bool)> {
        self.inner
            .buckets()
            .iter()
            .map(|b| (b.limit, b.unit == Unit::Tokens))
            .collect()
    }

    /// Charge `requests` and `tokens` to every bucket, all or nothing (`Verdict`).
    #[pyo3(signature = (requests, tokens, now_ns = None))]
    fn admit(
        &self,
        py: Python<'_>,
        requests: i64,
        tokens: i64,
        now_ns: Option<i64>,
    ) -> PyResult<PyVerdict> {
        let now = now_ns.unwrap_or_else(buckets::now_ns);
        let v = self.inner.admit(requests, tokens, now).map_err(state_err)?;
        Ok(PyVerdict {
            refused: v.refused,
            never: v.never,
            wait_ns: v.wait_ns,
            used: v.used,
            headers: PyList::new(py, headers(py, &v.headers))?.unbind(),
        })
    }

    /// Redis mode: take from the leased counters at field + offset, all or nothing;
    /// the index of the short bucket, or None.
    fn take_pool(&self, offset: usize, requests: i64, tokens: i64) -> PyResult<Option<usize>> {
        self.inner
            .take_pool(offset, requests, tokens)
            .map_err(state_err)
    }

    /// Add leased (or refunded) units to bucket `index`'s counter; returns the new value.
    fn add_pool(&self, offset: usize, index: usize, units: i64) -> PyResult<i64> {
        self.inner.add_pool(offset, index, units).map_err(state_err)
    }

    fn refund(&self, tokens: i64) -> PyResult<()> {
        self.inner.refund(tokens).map_err(state_err)
    }

    #[pyo3(signature = (now_ns = None))]
    fn headers<'py>(&self, py: Python<'py>, now_ns: Option<i64>) -> PyResult<Headers<'py>> {
        let now = now_ns.unwrap_or_else(buckets::now_ns);
        let hs = self.inner.headers(now).map_err(state_err)?;
        Ok(headers(py, &hs))
    }
}
