//! The one figure set routing needs from trtllm-serve's `GET /metrics`: the
//! last iteration's queue length and KV-cache use.
//!
//! The worker answers with every iteration since the last read, up to about a
//! thousand entries (hundreds of KB under load). Building all of them as
//! Python objects once a second stalled the event loop for milliseconds, so
//! the array is walked here without building anything but its last entry.

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// What routing reads from one iteration entry; absent or ill-typed figures are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub queued: Option<i64>,
    /// (usedNumBlocks, maxNumBlocks)
    pub kv_blocks: Option<(i64, i64)>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(
        rename = "numQueuedRequests",
        default,
        deserialize_with = "lenient_i64"
    )]
    queued: Option<i64>,
    #[serde(rename = "kvCacheStats", default, deserialize_with = "lenient_kv")]
    kv: Option<(i64, i64)>,
}

#[derive(Deserialize)]
struct Kv {
    #[serde(rename = "usedNumBlocks", default, deserialize_with = "lenient_i64")]
    used: Option<i64>,
    #[serde(rename = "maxNumBlocks", default, deserialize_with = "lenient_i64")]
    max: Option<i64>,
}

/// An integer, or `None` for any other JSON value (never an error).
fn lenient_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_i64())
}

fn lenient_kv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<(i64, i64)>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let Ok(kv) = Kv::deserialize(v) else {
        return Ok(None);
    };
    Ok(kv.used.zip(kv.max))
}

struct LastItem;

impl<'de> Visitor<'de> for LastItem {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut last = None;
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            last = Some(item);
        }
        Ok(last)
    }
}

/// The last entry's figures; `None` when the body is not a JSON array, is
/// empty, or its last entry is not an object.
pub fn last_iteration(body: &[u8]) -> Option<WorkerStats> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let last = de.deserialize_seq(LastItem).ok()??;
    de.end().ok()?;
    let entry: Entry = serde_json::from_str(last.get()).ok()?;
    Some(WorkerStats {
        queued: entry.queued,
        kv_blocks: entry.kv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_last_entry() {
        let body = br#"[{"numQueuedRequests": 9, "kvCacheStats": {"usedNumBlocks": 1, "maxNumBlocks": 2}},
            {"iter": 2, "numQueuedRequests": 3, "kvCacheStats": {"usedNumBlocks": 10, "maxNumBlocks": 100, "x": [1]}, "nested": {"a": [{}]}}]"#;
        let s = last_iteration(body).unwrap();
        assert_eq!(s.queued, Some(3));
        assert_eq!(s.kv_blocks, Some((10, 100)));
    }

    #[test]
    fn missing_or_ill_typed_figures_are_none() {
        let s = last_iteration(
            br#"[{"numQueuedRequests": "3", "kvCacheStats": {"usedNumBlocks": 1}}]"#,
        )
        .unwrap();
        assert_eq!(s, WorkerStats::default());
        let s = last_iteration(br#"[{"kvCacheStats": 7, "numQueuedRequests": 1.5}]"#).unwrap();
        assert_eq!(s, WorkerStats::default());
    }

    #[test]
    fn refuses_what_is_not_an_array_of_objects() {
        for body in [
            &b"[]"[..],
            b"{}",
            b"",
            b"[1, 2",
            b"[{}] x",
            b"[{}, 3]",
            b"null",
            b"\xff",
        ] {
            assert_eq!(
                last_iteration(body),
                None,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(last_iteration(b" [ {} ] "), Some(WorkerStats::default()));
    }

    #[test]
    fn a_thousand_entries() {
        let mut body = String::from("[");
        for i in 0..1000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"iter": {i}, "numQueuedRequests": {i}, "kvCacheStats": {{"usedNumBlocks": {i}, "maxNumBlocks": 8192}}, "inflightBatchingStats": {{"numScheduledRequests": 4}}}}"#
            ));
        }
        body.push(']');
        let s = last_iteration(body.as_bytes()).unwrap();
        assert_eq!(s.queued, Some(999));
        assert_eq!(s.kv_blocks, Some((999, 8192)));
    }
}
