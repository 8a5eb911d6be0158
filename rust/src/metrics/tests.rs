use std::sync::Arc;

use super::render::fixed_str;
use super::{Metrics, MetricsError};
use crate::state::tests::TempPath;
use crate::state::{self, StateTable};

fn metrics(p: &TempPath) -> Metrics {
    Metrics::new(Arc::new(StateTable::open(&p.0, 256).unwrap()))
}

fn invalid<T: std::fmt::Debug>(r: Result<T, MetricsError>) -> bool {
    matches!(r, Err(MetricsError::Invalid(_)))
}

#[test]
fn counters_and_gauges() {
    let p = TempPath::new("m-basic");
    let m = metrics(&p);
    m.describe("reqs_total", "counter", "Requests.", None)
        .unwrap();
    m.describe("inflight", "gauge", "In flight.", None).unwrap();
    let c = m.series("reqs_total", &[("code", "200")]).unwrap();
    assert_eq!(m.series("reqs_total", &[("code", "200")]).unwrap(), c);
    assert_ne!(m.series("reqs_total", &[("code", "500")]).unwrap(), c);
    m.inc(c, 1).unwrap();
    m.inc(c, 41).unwrap();
    assert_eq!(m.value(c).unwrap(), 42.0);

    let g = m.series("inflight", &[]).unwrap();
    m.gauge_set(g, 2.5).unwrap();
    m.gauge_add(g, -0.75).unwrap();
    assert_eq!(m.value(g).unwrap(), 1.75);
    m.gauge_add(g, 0.1).unwrap();
    assert_eq!(m.value(g).unwrap(), 1.85);
}

#[test]
fn wrong_kind_and_bad_values() {
    let p = TempPath::new("m-kind");
    let m = metrics(&p);
    m.describe("c", "counter", "", None).unwrap();
    m.describe("g", "gauge", "", None).unwrap();
    let c = m.series("c", &[]).unwrap();
    let g = m.series("g", &[]).unwrap();
    assert!(invalid(m.inc(g, 1)));
    assert!(invalid(m.gauge_set(c, 1.0)));
    assert!(invalid(m.observe(c, 1.0)));
    assert!(invalid(m.inc(c, -1)));
    assert!(invalid(m.gauge_set(g, f64::NAN)));
    assert!(invalid(m.gauge_set(g, f64::INFINITY)));
    assert!(invalid(m.gauge_set(g, 1e13)));
    assert!(matches!(
        m.inc(100_000, 1),
        Err(MetricsError::State(state::Error::BadSlot(100_000)))
    ));
    // A slot that is not a metric series.
    let other = m.table().slot("rl:tenant").unwrap();
    assert!(invalid(m.inc(other, 1)));
}

#[test]
fn describe_validates() {
    let p = TempPath::new("m-describe");
    let m = metrics(&p);
    assert!(invalid(m.describe("1bad", "counter", "", None)));
    assert!(invalid(m.describe("bad-name", "counter", "", None)));
    assert!(invalid(m.describe("x", "summary", "", None)));
    assert!(invalid(m.describe("x", "counter", "", Some(&[1.0]))));
    assert!(invalid(m.describe("h", "histogram", "", Some(&[2.0, 1.0]))));
    assert!(invalid(m.describe("h", "histogram", "", Some(&[1.0, 1.0]))));
    assert!(invalid(m.describe("h", "histogram", "", Some(&[f64::NAN]))));
    let too_many: Vec<f64> = (0..=super::MAX_BOUNDS).map(|i| i as f64).collect();
    assert!(invalid(m.describe("h", "histogram", "", Some(&too_many))));
    let most = &too_many[..super::MAX_BOUNDS];
    m.describe("h", "histogram", "", Some(most)).unwrap();
    m.describe("h", "histogram", "", Some(most)).unwrap(); // same again: fine
    assert!(invalid(m.describe(
        "h",
        "histogram",
        "other help",
        Some(most)
    )));
    assert!(invalid(m.series("nope", &[])));
    assert!(invalid(m.series("h", &[("le", "1")])));
    assert!(invalid(m.series("h", &[("a", "1"), ("a", "2")])));
    assert!(invalid(m.series("h", &[("__name__", "1")])));
    assert!(invalid(m.series("h", &[("a-b", "1")])));
    // The key limit of the table shows through.
    let long = "v".repeat(300);
    assert!(matches!(
        m.series("h", &[("a", &long)]),
        Err(MetricsError::State(state::Error::KeyTooLong { .. }))
    ));
}

#[test]
fn histogram_buckets_by_le() {
    let p = TempPath::new("m-hist");
    let m = metrics(&p);
    m.describe(
        "lat",
        "histogram",
        "Latency.",
        Some(&[0.1, 0.5, 1.0, f64::INFINITY]),
    )
    .unwrap();
    let h = m.series("lat", &[]).unwrap();
    for v in [0.05, 0.1, 0.2, 0.5, 0.7, 1.0, 3.0, -1.0] {
        m.observe(h, v).unwrap();
    }
    assert!(invalid(m.observe(h, f64::NAN)));
    let text = m.render().unwrap();
    let expected = "\
# HELP lat Latency.
# TYPE lat histogram
lat_bucket{le=\"0.1\"} 3
lat_bucket{le=\"0.5\"} 5
lat_bucket{le=\"1\"} 7
lat_bucket{le=\"+Inf\"} 8
lat_sum 4.55
lat_count 8
";
    assert_eq!(text, expected);
    assert!(invalid(m.value(h)));
}

#[test]
fn render_sorts_and_escapes() {
    let p = TempPath::new("m-render");
    let m = metrics(&p);
    m.describe("b_total", "counter", "Line one\nback\\slash", None)
        .unwrap();
    m.describe("a_gauge", "gauge", "A gauge.", None).unwrap();
    m.describe("h", "histogram", "H.", Some(&[1.0])).unwrap();
    m.describe("unused", "counter", "Never used.", None)
        .unwrap();
    let x = m
        .series("b_total", &[("z", "1"), ("path", "a\"b\\c\nd")])
        .unwrap();
    m.inc(x, 3).unwrap();
    let y = m.series("b_total", &[("path", "/a"), ("z", "1")]).unwrap();
    m.inc(y, 1).unwrap();
    m.gauge_set(m.series("a_gauge", &[]).unwrap(), -0.000001)
        .unwrap();
    m.observe(m.series("h", &[("m", "x")]).unwrap(), 2.0)
        .unwrap();
    // A series of a family this process does not know: skipped.
    m.table().slot("m:ghost_total{a=\"1\"}").unwrap();
    let expected = "\
# HELP a_gauge A gauge.
# TYPE a_gauge gauge
a_gauge -0.000001
# HELP b_total Line one\\nback\\\\slash
# TYPE b_total counter
b_total{path=\"/a\",z=\"1\"} 1
b_total{path=\"a\\\"b\\\\c\\nd\",z=\"1\"} 3
# HELP h H.
# TYPE h histogram
h_bucket{m=\"x\",le=\"1\"} 0
h_bucket{m=\"x\",le=\"+Inf\"} 1
h_sum{m=\"x\"} 2
h_count{m=\"x\"} 1
";
    assert_eq!(m.render().unwrap(), expected);
}

#[test]
fn another_process_sees_the_same_series() {
    // Two registries on two mappings of one file stand for two processes.
    let p = TempPath::new("m-share");
    let a = metrics(&p);
    let b = metrics(&p);
    for m in [&a, &b] {
        m.describe("hits_total", "counter", "Hits.", None).unwrap();
        m.describe("lat", "histogram", "Latency.", Some(&[1.0]))
            .unwrap();
    }
    let sa = a.series("hits_total", &[("w", "1")]).unwrap();
    a.inc(sa, 2).unwrap();
    // b never called series(): it learns the handle's family from the table.
    b.inc(sa, 5).unwrap();
    assert_eq!(a.value(sa).unwrap(), 7.0);
    let ha = a.series("lat", &[]).unwrap();
    b.observe(ha, 0.5).unwrap();
    assert!(b.render().unwrap().contains("hits_total{w=\"1\"} 7\n"));
    assert!(a.render().unwrap().contains("lat_count 1\n"));
}

#[test]
fn fixed_point_text() {
    assert_eq!(fixed_str(0), "0");
    assert_eq!(fixed_str(1_500_000), "1.5");
    assert_eq!(fixed_str(-1), "-0.000001");
    assert_eq!(fixed_str(123_000_100), "123.0001");
    assert_eq!(fixed_str(i64::MIN), "-9223372036854.775808");
}

#[test]
fn show_only_hides_the_series_of_removed_label_values() {
    let p = TempPath::new("m-shown");
    let m = metrics(&p);
    let families: [(&str, &str, Option<&[f64]>); 3] = [
        ("reqs_total", "counter", None),
        ("lat", "histogram", Some(&[1.0])),
        ("up", "gauge", None),
    ];
    for (name, kind, buckets) in families {
        m.describe(name, kind, "Help.", buckets).unwrap();
    }
    let kept = m.series("reqs_total", &[("model", "m")]).unwrap();
    let gone = m.series("reqs_total", &[("model", "gone")]).unwrap();
    let lat = m.series("lat", &[("model", "gone")]).unwrap();
    let up = m.series("up", &[("worker", "http://w")]).unwrap();
    m.inc(gone, 3).unwrap();
    m.observe(lat, 0.5).unwrap();
    m.gauge_set(up, 1.0).unwrap();
    m.inc(kept, 1).unwrap();

    m.show_only("model", Some(&["m".to_string()])).unwrap();
    let text = m.render().unwrap();
    assert!(text.contains("reqs_total{model=\"m\"} 1"), "{text}");
    assert!(!text.contains("gone"), "{text}");
    assert!(
        !text.contains("# TYPE lat"),
        "a family with no series left: {text}"
    );
    assert!(text.contains("up{worker=\"http://w\"} 1"), "{text}");

    // back again: where it was, and counting on
    m.show_only("model", None).unwrap();
    m.inc(gone, 1).unwrap();
    assert!(m.render().unwrap().contains("reqs_total{model=\"gone\"} 4"));
    assert!(invalid(m.show_only("bad label", None)));
}

#[test]
fn folded_updates_match_the_single_ones() {
    let p = TempPath::new("m-folded");
    let m = metrics(&p);
    m.describe("n_total", "counter", "N.", None).unwrap();
    m.describe("lat", "histogram", "Latency.", Some(&[0.1, 1.0]))
        .unwrap();
    let (c, h) = (
        m.series("n_total", &[]).unwrap(),
        m.series("lat", &[]).unwrap(),
    );
    m.count_observe(c, h, 0.5).unwrap();
    assert_eq!(m.value(c).unwrap(), 1.0);
    assert!(m.render().unwrap().contains("lat_bucket{le=\"1\"} 1\n"));
    // the counter is not a histogram: refused, as `observe` refuses it
    assert!(invalid(m.count_observe(c, c, 0.5)));

    let tin = m.series("n_total", &[("dir", "in")]).unwrap();
    let tout = m.series("n_total", &[("dir", "out")]).unwrap();
    let ph = m.series("lat", &[("of", "prompt")]).unwrap();
    let q = m.series("lat", &[("of", "queue")]).unwrap();
    m.served([q, h, tin, ph, tout], None, Some(0.05), 12, 0)
        .unwrap();
    assert_eq!(m.value(tin).unwrap(), 12.0);
    assert_eq!(m.value(tout).unwrap(), 0.0);
    let text = m.render().unwrap();
    assert!(text.contains("lat_count{of=\"prompt\"} 1\n"));
    assert!(text.contains("lat_count{of=\"queue\"} 0\n")); // not given: not observed
    assert!(text.contains("lat_bucket{le=\"0.1\"} 1\n"));
    m.served([q, h, tin, ph, tout], Some(0.0), None, 0, 7)
        .unwrap();
    assert_eq!(m.value(tout).unwrap(), 7.0);
    assert!(m.render().unwrap().contains("lat_count{of=\"queue\"} 1\n"));
    assert!(invalid(m.served([q, h, tin, ph, tout], None, None, -1, 0)));
}
