//! `RoutePool` and `prefix_hash`: thin wrappers over `crate::routing`. A pick
//! takes well under a microsecond, so none releases the GIL.

use super::errors::CoreError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::state::{state_err, PyStateTable};
use crate::routing::{self, Ask, Pick, Policy, Pool, WorkerSpec};

#[pyclass(name = "RoutePool", frozen, module = "provocapi._core")]
pub struct PyRoutePool {
    inner: Pool,
    /// Every answer a pick can give, built once: worker i is at 2i (2i + 1 with an
    /// adapter hit), then full, then none ready. A pick hands out a reference (the
    /// class is frozen), so it allocates nothing, as cheap as the tuple it replaced.
    picks: Vec<Py<PyRoutePick>>,
}

/// One pick: `index` is the worker's, or None when every ready worker is at its
/// cap (`full`) or none is ready (`none_ready`).
#[pyclass(name = "RoutePick", frozen, module = "provocapi._core")]
pub struct PyRoutePick {
    #[pyo3(get)]
    index: Option<usize>,
    #[pyo3(get)]
    adapter_hit: bool,
    #[pyo3(get)]
    full: bool,
}

#[pymethods]
impl PyRoutePick {
    #[getter]
    fn none_ready(&self) -> bool {
        self.index.is_none() && !self.full
    }

    fn __repr__(&self) -> String {
        let index = self.index.map_or("None".to_string(), |i| i.to_string());
        let py_bool = |b: bool| if b { "True" } else { "False" };
        format!(
            "RoutePick(index={index}, adapter_hit={}, full={})",
            py_bool(self.adapter_hit),
            py_bool(self.full)
        )
    }
}

#[pymethods]
impl PyRoutePool {
    #[classattr]
    const F_IN_FLIGHT: usize = routing::F_IN_FLIGHT;
    #[classattr]
    const F_MAX_CONCURRENCY: usize = routing::F_MAX_CONCURRENCY;
    #[classattr]
    const F_HEALTH: usize = routing::F_HEALTH;
    #[classattr]
    const F_QUEUED: usize = routing::F_QUEUED;
    #[classattr]
    const F_KV_PERMILLE: usize = routing::F_KV_PERMILLE;
    #[classattr]
    const F_FAILS: usize = routing::F_FAILS;
    #[classattr]
    const F_EJECTED_UNTIL_MS: usize = routing::F_EJECTED_UNTIL_MS;
    #[classattr]
    const HEALTH_UP: i64 = routing::HEALTH_UP;
    #[classattr]
    const HEALTH_STARTING: i64 = routing::HEALTH_STARTING;
    #[classattr]
    const HEALTH_DOWN: i64 = routing::HEALTH_DOWN;
    #[classattr]
    const HEALTH_EJECTED: i64 = routing::HEALTH_EJECTED;
    #[classattr]
    const LORA_MAX: usize = routing::LORA_MAX;
    #[classattr]
    const MAX_WORKERS: usize = routing::MAX_WORKERS;
    #[new]
    #[pyo3(signature = (table, workers, clock_slot, load_factor = 1.5, policy = "scan", home_slots = Vec::new(), adapter_load_factor = 3.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        table: &Bound<'_, PyStateTable>,
        workers: Vec<(usize, usize, u32, usize)>,
        clock_slot: usize,
        load_factor: f64,
        policy: &str,
        home_slots: Vec<usize>,
        adapter_load_factor: f64,
    ) -> PyResult<Self> {
        let policy = Policy::parse(policy)
            .ok_or_else(|| CoreError::new_err(format!("unknown policy {policy:?}")))?;
        let specs = workers
            .into_iter()
            .map(|(load_slot, lora_slot, weight, max_loras)| WorkerSpec {
                load_slot,
                lora_slot,
                weight,
                max_loras,
            })
            .collect();
        let inner = Pool::new(
            table.get().table(),
            specs,
            clock_slot,
            (load_factor, adapter_load_factor),
            policy,
            home_slots,
        )
        .map_err(CoreError::new_err)?;
        let n = inner.len();
        let mut picks = Vec::with_capacity(2 * n + 2);
        for index in 0..n {
            for adapter_hit in [false, true] {
                let pick = PyRoutePick {
                    index: Some(index),
                    adapter_hit,
                    full: false,
                };
                picks.push(Py::new(py, pick)?);
            }
        }
        for full in [true, false] {
            let pick = PyRoutePick {
                index: None,
                adapter_hit: false,
                full,
            };
            picks.push(Py::new(py, pick)?);
        }
        Ok(PyRoutePool { inner, picks })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// A worker's index, or why there is none (`RoutePick`).
    #[pyo3(signature = (adapter = 0, prefix = 0, exclude = 0))]
    fn pick(
        &self,
        py: Python<'_>,
        adapter: i64,
        prefix: u64,
        exclude: u64,
    ) -> PyResult<Py<PyRoutePick>> {
        let ask = Ask {
            adapter,
            prefix,
            exclude,
        };
        let n = self.inner.len();
        let at = match self.inner.pick(ask).map_err(state_err)? {
            Pick::Worker { index, adapter_hit } => 2 * index + usize::from(adapter_hit),
            Pick::Full => 2 * n,
            Pick::NoneReady => 2 * n + 1,
        };
        self.picks
            .get(at)
            .map(|p| p.clone_ref(py))
            .ok_or_else(|| CoreError::new_err(format!("pick {at} out of range")))
    }

    fn release(&self, index: usize) -> PyResult<()> {
        self.inner.release(index).map_err(state_err)
    }

    /// Where this process books the units it holds on each worker (one slot each).
    fn hold(&self, slots: Vec<usize>) -> PyResult<()> {
        if slots.len() != self.inner.len() {
            let n = self.inner.len();
            return Err(CoreError::new_err(format!("hold: {n} slots expected")));
        }
        self.inner.hold(&slots).map_err(state_err)
    }

    fn holds(&self, index: usize, adapter: i64) -> PyResult<bool> {
        self.inner.holds(index, adapter).map_err(state_err)
    }
}

#[pyfunction]
fn prefix_hash(data: &[u8]) -> u64 {
    routing::prefix_hash(data)
}

/// `prefix_hash` of the JSON of `messages` up to and including the first whose
/// "role" is "user", cut to `limit` bytes, written as msgspec writes it: the
/// caller's fallback (msgspec) gives the same hash. One pass, no Python objects
/// made. None when the list is empty or a message of that head is not an
/// object of string keys and string values (the caller encodes those).
#[pyfunction]
fn messages_prefix_hash(messages: &Bound<'_, PyList>, limit: usize) -> Option<u64> {
    if messages.is_empty() {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(limit.min(4096) + 64);
    out.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        let dict = m.downcast_exact::<PyDict>().ok()?;
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let mut user = false;
        for (j, (k, v)) in dict.iter().enumerate() {
            // every string is checked, the ones past `limit` too: one the core cannot
            // read (a lone surrogate) is left to the caller's encoder, as before
            let key = k.downcast_exact::<PyString>().ok()?.to_str().ok()?;
            let value = v.downcast_exact::<PyString>().ok()?.to_str().ok()?;
            if out.len() <= limit {
                if j > 0 {
                    out.push(b',');
                }
                routing::push_json_str(&mut out, key);
                out.push(b':');
                routing::push_json_str(&mut out, value);
            }
            user |= key == "role" && value == "user";
        }
        out.push(b'}');
        if user {
            break;
        }
    }
    out.push(b']');
    out.truncate(limit);
    Some(routing::prefix_hash(&out))
}

/// The last iteration entry of trtllm-serve's `/metrics` list, as
/// (numQueuedRequests, usedNumBlocks, maxNumBlocks), -1 where absent; None
/// when the body is not a non-empty array ending with an object. Walks the
/// body without the GIL (it can be hundreds of KB).
#[pyfunction]
fn worker_stats(py: Python<'_>, body: &[u8]) -> Option<(i64, i64, i64)> {
    let stats = py.allow_threads(|| routing::last_iteration(body))?;
    let (used, max) = stats.kv_blocks.unwrap_or((-1, -1));
    Some((stats.queued.unwrap_or(-1), used, max))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRoutePool>()?;
    m.add_class::<PyRoutePick>()?;
    m.add_function(wrap_pyfunction!(worker_stats, m)?)?;
    m.add_function(wrap_pyfunction!(prefix_hash, m)?)?;
    m.add_function(wrap_pyfunction!(messages_prefix_hash, m)?)?;
    Ok(())
}
