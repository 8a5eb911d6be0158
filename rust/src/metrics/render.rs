//! The Prometheus text exposition format (version 0.0.4): families sorted by
//! name, series sorted by labels, histograms as cumulative `_bucket` lines
//! ending in `+Inf`, then `_sum` and `_count`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use super::family::{escape_into, family_of_key, Family, Kind, FIRST_BUCKET, KEY_PREFIX, SUM};
use super::{Metrics, MetricsError};

/// A family and its series as (label text, slot).
type Group<'a> = (&'a Family, Vec<(&'a str, usize)>);

impl Metrics {
    /// Every series in the table whose family this process has described, but
    /// those `show_only` hides.
    pub fn render(&self) -> Result<String, MetricsError> {
        let entries = self.table.entries(KEY_PREFIX)?;
        let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
        {
            let by_name = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
            let shown = self.shown.read().unwrap_or_else(PoisonError::into_inner);
            for (key, slot) in &entries {
                let Some(name) = family_of_key(key) else {
                    continue;
                };
                let Some(family) = by_name.get(name).and_then(|&id| self.families[id].get()) else {
                    continue;
                };
                let labels = &key[KEY_PREFIX.len() + name.len()..];
                if !shown.shows(labels) {
                    continue;
                }
                groups
                    .entry(&family.name)
                    .or_insert_with(|| (family, Vec::new()))
                    .1
                    .push((labels, *slot));
            }
        }
        let mut out = String::with_capacity(256 * entries.len().max(1));
        for (family, mut series) in groups.into_values() {
            series.sort_unstable();
            out.push_str("# HELP ");
            out.push_str(&family.name);
            out.push(' ');
            escape_into(&mut out, &family.help, false);
            let _ = writeln!(out, "\n# TYPE {} {}", family.name, family.kind.as_str());
            for (labels, slot) in series {
                self.render_series(&mut out, family, labels, slot)?;
            }
        }
        Ok(out)
    }

    fn render_series(
        &self,
        out: &mut String,
        family: &Family,
        labels: &str,
        slot: usize,
    ) -> Result<(), MetricsError> {
        let field = |i: usize| -> Result<i64, MetricsError> {
            Ok(self.table.field(slot, i)?.load(Ordering::Relaxed))
        };
        let name = &family.name;
        match family.kind {
            Kind::Counter => {
                let _ = writeln!(out, "{name}{labels} {}", field(0)?);
            }
            Kind::Gauge => {
                let _ = writeln!(out, "{name}{labels} {}", fixed_str(field(0)?));
            }
            Kind::Histogram => {
                // `{a="x"}` -> `a="x",` so `le` can be appended.
                let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
                let sep = if inner.is_some() { "," } else { "" };
                let inner = inner.unwrap_or("");
                let mut count: i64 = 0;
                for (i, bound) in family.bounds.iter().enumerate() {
                    count = count.wrapping_add(field(FIRST_BUCKET + i)?);
                    let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"{bound}\"}} {count}");
                }
                count = count.wrapping_add(field(FIRST_BUCKET + family.bounds.len())?);
                let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"+Inf\"}} {count}");
                let _ = writeln!(out, "{name}_sum{labels} {}", fixed_str(field(SUM)?));
                let _ = writeln!(out, "{name}_count{labels} {count}");
            }
        }
        Ok(())
    }
}

/// Exact decimal of a micro-unit value: 1500000 -> "1.5", -1 -> "-0.000001".
pub(super) fn fixed_str(v: i64) -> String {
    let abs = v.unsigned_abs();
    let (int, frac) = (abs / 1_000_000, abs % 1_000_000);
    let sign = if v < 0 { "-" } else { "" };
    if frac == 0 {
        format!("{sign}{int}")
    } else {
        let digits = format!("{frac:06}");
        format!("{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}
