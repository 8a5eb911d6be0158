//! `BucketSet`: a thin wrapper over `crate::buckets`.
//! A check is a few atomic operations, so none releases the GIL.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::state::{state_err, PyStateTable};
use crate::buckets::{self, Bucket, Unit};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBucketSet>()?;
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

    /// (refused bucket index or None, never fits, wait ns, units in use there, headers).
    #[pyo3(signature = (requests, tokens, now_ns = None))]
    #[allow(clippy::type_complexity)]
    fn admit<'py>(
        &self,
        py: Python<'py>,
        requests: i64,
        tokens: i64,
        now_ns: Option<i64>,
    ) -> PyResult<(Option<usize>, bool, i64, i64, Headers<'py>)> {
        let now = now_ns.unwrap_or_else(buckets::now_ns);
        let v = self.inner.admit(requests, tokens, now).map_err(state_err)?;
        Ok((
            v.refused,
            v.never,
            v.wait_ns,
            v.used,
            headers(py, &v.headers),
        ))
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
