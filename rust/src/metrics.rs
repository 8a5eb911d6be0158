//! Prometheus metrics kept in the shared state table, so every worker process
//! adds into the same atomics and a scrape of any one process sees the sum.
//!
//! A series is one table slot (key `m:name{labels}`); its slot index is the
//! handle callers keep, and an update is a couple of atomic adds. What a
//! family is (kind, help, bucket bounds) lives in each process: every process
//! describes the same families at start-up, and `render` skips series whose
//! family this process does not know, and those `show_only` hides.

mod family;
mod render;
mod shown;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use crate::state::{self, StateTable};
use family::{family_of_key, is_label_name, FIRST_BUCKET, SUM};
pub use family::{Family, Kind, MAX_BOUNDS};

/// Gauges and histogram sums are stored as i64 micro-units.
pub const SCALE: f64 = 1e6;
/// Distinct families one process may describe.
pub const MAX_FAMILIES: usize = 1024;

#[derive(Debug)]
pub enum MetricsError {
    /// Bad name, kind, buckets, labels or value, or a handle of the wrong kind.
    Invalid(String),
    State(state::Error),
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::Invalid(why) => f.write_str(why),
            MetricsError::State(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MetricsError {}

impl From<state::Error> for MetricsError {
    fn from(e: state::Error) -> Self {
        MetricsError::State(e)
    }
}

pub struct Metrics {
    table: Arc<StateTable>,
    /// Append-only, so the hot path reads a family without a lock.
    families: Box<[OnceLock<Family>]>,
    /// Family name -> index in `families`; taken only off the hot path.
    by_name: Mutex<HashMap<String, usize>>,
    /// Slot -> family index + 1 (0: not learnt yet), per process.
    by_slot: Box<[AtomicU32]>,
    /// Label values `render` still shows (per process: each applies the config).
    shown: RwLock<shown::Shown>,
}

impl Metrics {
    pub fn new(table: Arc<StateTable>) -> Metrics {
        Metrics {
            families: (0..MAX_FAMILIES).map(|_| OnceLock::new()).collect(),
            by_name: Mutex::new(HashMap::new()),
            by_slot: (0..table.capacity()).map(|_| AtomicU32::new(0)).collect(),
            shown: RwLock::default(),
            table,
        }
    }

    pub fn table(&self) -> &Arc<StateTable> {
        &self.table
    }

    /// Declares a family. Describing it again identically is a no-op;
    /// differently, an error. `buckets` default to Prometheus' latency bounds.
    pub fn describe(
        &self,
        name: &str,
        kind: &str,
        help: &str,
        buckets: Option<&[f64]>,
    ) -> Result<(), MetricsError> {
        let family = Family::new(name, kind, help, buckets)?;
        let mut by_name = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = by_name.get(name) {
            return match self.families[id].get() {
                Some(known) if *known == family => Ok(()),
                _ => Err(MetricsError::Invalid(format!(
                    "{name} is already described differently"
                ))),
            };
        }
        let id = by_name.len();
        let cell = self
            .families
            .get(id)
            .ok_or_else(|| MetricsError::Invalid(format!("more than {MAX_FAMILIES} families")))?;
        // Under the lock, with a fresh id: the cell is empty.
        let _ = cell.set(family);
        by_name.insert(name.to_string(), id);
        Ok(())
    }

    /// From now on `render` shows a series with label `label` only if its value is
    /// one of `values` (the models and workers a reload kept); `None` shows all.
    /// Series without that label are not affected; nothing is deleted.
    pub fn show_only(&self, label: &str, values: Option<&[String]>) -> Result<(), MetricsError> {
        if !is_label_name(label) {
            return Err(MetricsError::Invalid(format!("bad label name {label:?}")));
        }
        self.shown
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .set(label, values);
        Ok(())
    }

    /// The handle (slot) of a series, creating it if needed.
    pub fn series(&self, name: &str, labels: &[(&str, &str)]) -> Result<usize, MetricsError> {
        let id = self
            .family_id(name)
            .ok_or_else(|| MetricsError::Invalid(format!("{name} is not described")))?;
        let family = self.families[id]
            .get()
            .ok_or_else(|| MetricsError::Invalid(format!("{name} is not described")))?;
        let slot = self.table.slot(&family.series_key(labels)?)?;
        if let Some(cached) = self.by_slot.get(slot) {
            cached.store(id as u32 + 1, Ordering::Relaxed);
        }
        Ok(slot)
    }

    /// Adds `by` (>= 0) to a counter.
    #[inline]
    pub fn inc(&self, series: usize, by: i64) -> Result<(), MetricsError> {
        if by < 0 {
            return Err(MetricsError::Invalid(format!(
                "counters only go up, got {by}"
            )));
        }
        self.family(series, Kind::Counter)?;
        self.table
            .field(series, 0)?
            .fetch_add(by, Ordering::Relaxed);
        Ok(())
    }

    #[inline]
    pub fn gauge_set(&self, series: usize, value: f64) -> Result<(), MetricsError> {
        self.family(series, Kind::Gauge)?;
        self.table
            .field(series, 0)?
            .store(fixed(value)?, Ordering::Relaxed);
        Ok(())
    }

    #[inline]
    pub fn gauge_add(&self, series: usize, delta: f64) -> Result<(), MetricsError> {
        self.family(series, Kind::Gauge)?;
        self.table
            .field(series, 0)?
            .fetch_add(fixed(delta)?, Ordering::Relaxed);
        Ok(())
    }

    /// Counts `value` in the first bucket whose bound is >= it, and adds it to the sum.
    #[inline]
    pub fn observe(&self, series: usize, value: f64) -> Result<(), MetricsError> {
        let family = self.family(series, Kind::Histogram)?;
        let amount = fixed(value)?;
        let bucket = family.bounds.partition_point(|b| *b < value);
        self.table
            .field(series, FIRST_BUCKET + bucket)?
            .fetch_add(1, Ordering::Relaxed);
        self.table
            .field(series, SUM)?
            .fetch_add(amount, Ordering::Relaxed);
        Ok(())
    }

    /// A counter +1 and a histogram's observation in one call: a finished request's
    /// count and duration (one crossing from Python per request instead of two).
    pub fn count_observe(
        &self,
        counter: usize,
        histogram: usize,
        value: f64,
    ) -> Result<(), MetricsError> {
        self.inc(counter, 1)?;
        self.observe(histogram, value)
    }

    /// An answered call's series in one call. `handles`: (queue seconds, TTFT,
    /// tokens in, prompt tokens histogram, tokens out). A time is observed when
    /// given; a token count, added (and the prompt's observed) when not zero.
    pub fn served(
        &self,
        handles: [usize; 5],
        queue_s: Option<f64>,
        ttft_s: Option<f64>,
        prompt: i64,
        completion: i64,
    ) -> Result<(), MetricsError> {
        let [queue, ttft, tokens_in, prompt_hist, tokens_out] = handles;
        if let Some(v) = queue_s {
            self.observe(queue, v)?;
        }
        if let Some(v) = ttft_s {
            self.observe(ttft, v)?;
        }
        if prompt != 0 {
            self.inc(tokens_in, prompt)?;
            self.observe(prompt_hist, prompt as f64)?;
        }
        if completion != 0 {
            self.inc(tokens_out, completion)?;
        }
        Ok(())
    }

    /// Current value of a counter or gauge.
    pub fn value(&self, series: usize) -> Result<f64, MetricsError> {
        let family = self.family_any(series)?;
        let raw = self.table.field(series, 0)?.load(Ordering::Relaxed);
        match family.kind {
            Kind::Counter => Ok(raw as f64),
            Kind::Gauge => Ok(raw as f64 / SCALE),
            Kind::Histogram => Err(MetricsError::Invalid(format!(
                "series {series} is a histogram; read it from render()"
            ))),
        }
    }

    /// The family of a series handle, checked against the kind the call expects.
    #[inline]
    fn family(&self, series: usize, want: Kind) -> Result<&Family, MetricsError> {
        let family = self.family_any(series)?;
        if family.kind != want {
            return Err(MetricsError::Invalid(format!(
                "series {series} ({}) is a {}, not a {}",
                family.name,
                family.kind.as_str(),
                want.as_str()
            )));
        }
        Ok(family)
    }

    #[inline]
    fn family_any(&self, series: usize) -> Result<&Family, MetricsError> {
        let id = self
            .by_slot
            .get(series)
            .ok_or(state::Error::BadSlot(series))?
            .load(Ordering::Relaxed);
        match (id as usize)
            .checked_sub(1)
            .and_then(|i| self.families.get(i))
            .and_then(OnceLock::get)
        {
            Some(family) => Ok(family),
            None => self.learn(series),
        }
    }

    /// Slow path: a handle this process has not resolved (made by another
    /// process, or before `describe`); read its key from the table.
    #[cold]
    fn learn(&self, series: usize) -> Result<&Family, MetricsError> {
        let key = self
            .table
            .key(series)?
            .ok_or(state::Error::BadSlot(series))?;
        let name = family_of_key(&key).ok_or_else(|| {
            MetricsError::Invalid(format!("slot {series} ({key}) is not a metric series"))
        })?;
        let id = self
            .family_id(name)
            .ok_or_else(|| MetricsError::Invalid(format!("{name} is not described")))?;
        let family = self.families[id]
            .get()
            .ok_or_else(|| MetricsError::Invalid(format!("{name} is not described")))?;
        self.by_slot[series].store(id as u32 + 1, Ordering::Relaxed);
        Ok(family)
    }

    fn family_id(&self, name: &str) -> Option<usize> {
        self.by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }
}

/// `value` in micro-units; NaN, infinities and values beyond ±9.2e12 are refused.
#[inline]
fn fixed(value: f64) -> Result<i64, MetricsError> {
    let scaled = (value * SCALE).round();
    if !(-9.2e18..=9.2e18).contains(&scaled) {
        return Err(MetricsError::Invalid(format!(
            "{value} cannot be stored (finite, |x| <= 9.2e12)"
        )));
    }
    Ok(scaled as i64)
}
