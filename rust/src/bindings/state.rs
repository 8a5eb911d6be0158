//! `StateTable`, `Metrics` and `StateTableError`: thin wrappers over
//! `crate::state` and `crate::metrics`. Calls take nanoseconds, so none
//! releases the GIL (that would cost more than the call).

use std::collections::HashMap;
use std::sync::Arc;

use super::errors::CoreError;
use pyo3::create_exception;
use pyo3::prelude::*;

use crate::metrics::{Metrics, MetricsError};
use crate::state::{Error, StateTable};

create_exception!(
    provocapi._core,
    StateTableError,
    CoreError,
    "Corrupt or mismatched state file, table full, key too long, or a bad slot/field."
);

pub(crate) fn state_err(e: Error) -> PyErr {
    match e {
        Error::Io(io) => io.into(),
        other => StateTableError::new_err(other.to_string()),
    }
}

fn metrics_err(e: MetricsError) -> PyErr {
    match e {
        MetricsError::Invalid(why) => CoreError::new_err(why),
        MetricsError::State(e) => state_err(e),
    }
}

/// Python ints may be negative; a negative slot or field is a bad one, not an OverflowError.
fn index(v: i64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| StateTableError::new_err(format!("{what} {v} is out of range")))
}

#[pyclass(name = "StateTable", frozen, module = "provocapi._core")]
pub struct PyStateTable {
    pub(crate) inner: Arc<StateTable>,
}

impl PyStateTable {
    /// The shared table, for other bindings that keep slots in it.
    pub(crate) fn table(&self) -> Arc<StateTable> {
        Arc::clone(&self.inner)
    }
}

#[pymethods]
impl PyStateTable {
    #[classattr]
    const FIELDS: usize = StateTable::FIELDS;
    #[classattr]
    const KEY_MAX: usize = StateTable::KEY_MAX;

    #[new]
    // StateTable::DEFAULT_CAPACITY, spelt out so __text_signature__ shows it.
    #[pyo3(signature = (path, capacity = 8192))]
    fn new(path: std::path::PathBuf, capacity: usize) -> PyResult<Self> {
        let inner = StateTable::open(path, capacity).map_err(state_err)?;
        Ok(PyStateTable {
            inner: Arc::new(inner),
        })
    }

    #[getter]
    fn path(&self) -> String {
        self.inner.path().to_string_lossy().into_owned()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    fn slot(&self, key: &str) -> PyResult<usize> {
        self.inner.slot(key).map_err(state_err)
    }

    fn find(&self, key: &str) -> PyResult<Option<usize>> {
        self.inner.find(key).map_err(state_err)
    }

    fn get(&self, slot: i64, field: i64) -> PyResult<i64> {
        let (s, f) = (index(slot, "slot")?, index(field, "field")?);
        self.inner.get(s, f).map_err(state_err)
    }

    fn set(&self, slot: i64, field: i64, value: i64) -> PyResult<()> {
        let (s, f) = (index(slot, "slot")?, index(field, "field")?);
        self.inner.set(s, f, value).map_err(state_err)
    }

    fn add(&self, slot: i64, field: i64, delta: i64) -> PyResult<i64> {
        let (s, f) = (index(slot, "slot")?, index(field, "field")?);
        self.inner.add(s, f, delta).map_err(state_err)
    }

    fn compare_and_swap(&self, slot: i64, field: i64, expected: i64, new: i64) -> PyResult<bool> {
        let (s, f) = (index(slot, "slot")?, index(field, "field")?);
        self.inner
            .compare_and_swap(s, f, expected, new)
            .map_err(state_err)
    }

    fn fetch_max(&self, slot: i64, field: i64, value: i64) -> PyResult<i64> {
        let (s, f) = (index(slot, "slot")?, index(field, "field")?);
        self.inner.fetch_max(s, f, value).map_err(state_err)
    }

    #[pyo3(signature = (prefix = ""))]
    fn entries(&self, prefix: &str) -> PyResult<Vec<(String, usize)>> {
        self.inner.entries(prefix).map_err(state_err)
    }

    fn __repr__(&self) -> String {
        format!(
            "StateTable({:?}, capacity={})",
            self.inner.path(),
            self.inner.capacity()
        )
    }
}

#[pyclass(name = "Metrics", frozen, module = "provocapi._core")]
pub struct PyMetrics {
    inner: Metrics,
}

#[pymethods]
impl PyMetrics {
    #[new]
    fn new(table: &Bound<'_, PyStateTable>) -> Self {
        PyMetrics {
            inner: Metrics::new(Arc::clone(&table.get().inner)),
        }
    }

    #[pyo3(signature = (name, kind, help, buckets = None))]
    fn describe(
        &self,
        name: &str,
        kind: &str,
        help: &str,
        buckets: Option<Vec<f64>>,
    ) -> PyResult<()> {
        self.inner
            .describe(name, kind, help, buckets.as_deref())
            .map_err(metrics_err)
    }

    #[pyo3(signature = (name, labels = None))]
    fn series(&self, name: &str, labels: Option<HashMap<String, String>>) -> PyResult<usize> {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.inner.series(name, &pairs).map_err(metrics_err)
    }

    #[pyo3(signature = (series, by = 1))]
    fn inc(&self, series: i64, by: i64) -> PyResult<()> {
        self.inner
            .inc(index(series, "series")?, by)
            .map_err(metrics_err)
    }

    fn gauge_set(&self, series: i64, value: f64) -> PyResult<()> {
        self.inner
            .gauge_set(index(series, "series")?, value)
            .map_err(metrics_err)
    }

    fn gauge_add(&self, series: i64, delta: f64) -> PyResult<()> {
        self.inner
            .gauge_add(index(series, "series")?, delta)
            .map_err(metrics_err)
    }

    fn observe(&self, series: i64, value: f64) -> PyResult<()> {
        self.inner
            .observe(index(series, "series")?, value)
            .map_err(metrics_err)
    }

    fn count_observe(&self, counter: i64, histogram: i64, value: f64) -> PyResult<()> {
        self.inner
            .count_observe(
                index(counter, "series")?,
                index(histogram, "series")?,
                value,
            )
            .map_err(metrics_err)
    }

    #[pyo3(signature = (handles, queue_s, ttft_s, prompt, completion))]
    fn served(
        &self,
        handles: (i64, i64, i64, i64, i64),
        queue_s: Option<f64>,
        ttft_s: Option<f64>,
        prompt: i64,
        completion: i64,
    ) -> PyResult<()> {
        let (a, b, c, d, e) = handles;
        let handles = [
            index(a, "series")?,
            index(b, "series")?,
            index(c, "series")?,
            index(d, "series")?,
            index(e, "series")?,
        ];
        self.inner
            .served(handles, queue_s, ttft_s, prompt, completion)
            .map_err(metrics_err)
    }

    fn value(&self, series: i64) -> PyResult<f64> {
        self.inner
            .value(index(series, "series")?)
            .map_err(metrics_err)
    }

    fn render(&self) -> PyResult<String> {
        self.inner.render().map_err(metrics_err)
    }

    #[pyo3(signature = (label, values))]
    fn show_only(&self, label: &str, values: Option<Vec<String>>) -> PyResult<()> {
        self.inner
            .show_only(label, values.as_deref())
            .map_err(metrics_err)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("StateTableError", m.py().get_type::<StateTableError>())?;
    m.add_class::<PyStateTable>()?;
    m.add_class::<PyMetrics>()?;
    Ok(())
}
