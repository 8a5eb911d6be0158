//! Metric families (name, kind, help, bucket bounds) and the table key of a
//! series: `m:name{a="x",b="y"}`, labels sorted and escaped as in the
//! Prometheus text format, so the key after `m:` is the series as rendered.

use super::MetricsError;
use crate::state::StateTable;

/// Table keys of metric series start with this.
pub const KEY_PREFIX: &str = "m:";

/// Histogram fields: the sum (fixed point), then one non-cumulative count per
/// bucket, the last being +Inf. The count is the sum of the buckets, so
/// `_count` always equals the `+Inf` bucket.
pub const SUM: usize = 0;
pub const FIRST_BUCKET: usize = 1;
/// Finite bounds a histogram may have (one field is the +Inf bucket).
pub const MAX_BOUNDS: usize = StateTable::FIELDS - FIRST_BUCKET - 1;

/// Prometheus client defaults, for latencies in seconds.
const DEFAULT_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "counter" => Some(Kind::Counter),
            "gauge" => Some(Kind::Gauge),
            "histogram" => Some(Kind::Histogram),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: String,
    /// Finite, strictly increasing upper bounds; empty unless a histogram.
    pub bounds: Box<[f64]>,
}

impl Family {
    pub fn new(
        name: &str,
        kind: &str,
        help: &str,
        buckets: Option<&[f64]>,
    ) -> Result<Family, MetricsError> {
        if !is_metric_name(name) {
            return Err(invalid(format!("bad metric name {name:?}")));
        }
        let kind = Kind::parse(kind).ok_or_else(|| {
            invalid(format!(
                "kind must be counter, gauge or histogram, not {kind:?}"
            ))
        })?;
        let bounds = match (kind, buckets) {
            (Kind::Histogram, None) => DEFAULT_BOUNDS.to_vec(),
            (Kind::Histogram, Some(b)) => check_bounds(b)?,
            (_, None) => Vec::new(),
            (_, Some(_)) => return Err(invalid(format!("{name}: only histograms take buckets"))),
        };
        Ok(Family {
            name: name.to_string(),
            kind,
            help: help.to_string(),
            bounds: bounds.into(),
        })
    }

    /// The table key of this family's series with `labels`.
    pub fn series_key(&self, labels: &[(&str, &str)]) -> Result<String, MetricsError> {
        let mut sorted = labels.to_vec();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut key = String::with_capacity(64);
        key.push_str(KEY_PREFIX);
        key.push_str(&self.name);
        for (i, (name, value)) in sorted.iter().enumerate() {
            if !is_label_name(name) {
                return Err(invalid(format!("{}: bad label name {name:?}", self.name)));
            }
            if self.kind == Kind::Histogram && *name == "le" {
                return Err(invalid(format!(
                    "{}: histograms reserve the label \"le\"",
                    self.name
                )));
            }
            if i > 0 && sorted[i - 1].0 == *name {
                return Err(invalid(format!(
                    "{}: label {name:?} given twice",
                    self.name
                )));
            }
            key.push(if i == 0 { '{' } else { ',' });
            key.push_str(name);
            key.push_str("=\"");
            escape_into(&mut key, value, true);
            key.push('"');
        }
        if !sorted.is_empty() {
            key.push('}');
        }
        Ok(key)
    }
}

/// The family name of a series key, if it is one.
pub fn family_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    Some(rest.find('{').map_or(rest, |i| &rest[..i]))
}

/// Escapes `\` and newline (help text), and `"` too in label values.
pub fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn check_bounds(b: &[f64]) -> Result<Vec<f64>, MetricsError> {
    // A trailing +Inf is implied; accept it as other clients do.
    let b = match b.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => b,
    };
    if b.len() > MAX_BOUNDS {
        return Err(invalid(format!(
            "at most {MAX_BOUNDS} bucket bounds, got {}",
            b.len()
        )));
    }
    if b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(
            "bucket bounds must be finite and strictly increasing".into(),
        ));
    }
    Ok(b.to_vec())
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn invalid(why: String) -> MetricsError {
    MetricsError::Invalid(why)
}
