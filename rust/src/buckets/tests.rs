use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use super::*;
use crate::state::tests::TempPath;
use crate::state::StateTable;

const S: i64 = 1_000_000_000;

/// Waits come out a few ns short of the exact figure (the rounding slack).
fn ceil_ms(ns: i64) -> i64 {
    (ns + 999_999) / 1_000_000
}

#[test]
fn full_bucket_admits_its_limit_then_refuses() {
    let cell = AtomicI64::new(0);
    let g = Gcra { limit: 60 };
    let now = 1_000 * S;
    for _ in 0..60 {
        assert!(matches!(g.take(&cell, 1, now), Take::Taken { .. }));
    }
    match g.take(&cell, 1, now) {
        Take::Later { wait_ns, .. } => assert_eq!(ceil_ms(wait_ns), 1000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refills_continuously() {
    let cell = AtomicI64::new(0);
    let g = Gcra { limit: 60 };
    let now = 1_000 * S;
    assert!(matches!(g.take(&cell, 60, now), Take::Taken { .. }));
    assert!(matches!(g.take(&cell, 1, now + S / 2), Take::Later { .. }));
    assert!(matches!(g.take(&cell, 1, now + S), Take::Taken { .. }));
    assert_eq!(
        g.status(cell.load(std::sync::atomic::Ordering::Relaxed), now + S)
            .0,
        0
    );
    let (remaining, reset) = g.status(
        cell.load(std::sync::atomic::Ordering::Relaxed),
        now + 31 * S,
    );
    assert_eq!((remaining, reset), (30, 30 * S));
}

#[test]
fn over_capacity_never_fits_and_refund_never_overfills() {
    let cell = AtomicI64::new(0);
    let g = Gcra { limit: 1000 };
    assert_eq!(g.take(&cell, 1001, S), Take::Never);
    assert!(matches!(g.take(&cell, 1000, S), Take::Taken { .. }));
    g.give_back(&cell, 400);
    assert_eq!(
        g.status(cell.load(std::sync::atomic::Ordering::Relaxed), S)
            .0,
        400
    );
    g.give_back(&cell, 5000); // more than was taken: the bucket is just full
    assert!(matches!(g.take(&cell, 1000, S), Take::Taken { .. }));
    assert!(matches!(g.take(&cell, 1, S), Take::Later { .. }));
}

#[test]
fn odd_limits_never_hand_out_more() {
    let cell = AtomicI64::new(0);
    let g = Gcra { limit: 7 };
    let now = 5 * S;
    let taken = (0..100)
        .filter(|_| matches!(g.take(&cell, 1, now), Take::Taken { .. }))
        .count();
    assert_eq!(taken, 7);
}

#[test]
fn go_durations() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(1), "1ms");
    assert_eq!(go_duration(12_000_000), "12ms");
    assert_eq!(go_duration(S), "1s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(360 * S), "6m0s");
    assert_eq!(go_duration(3_723 * S), "1h2m3s");
}

fn set(limits: &[(i64, Unit)]) -> BucketSet {
    let path = TempPath::new("buckets");
    let table = Arc::new(StateTable::open(&path.0, 64).unwrap());
    let slot = table.slot("rl").unwrap();
    let buckets = limits
        .iter()
        .enumerate()
        .map(|(i, &(limit, unit))| Bucket {
            slot,
            field: i,
            limit,
            unit,
        })
        .collect();
    BucketSet::new(table, buckets).unwrap()
}

#[test]
fn all_or_nothing_and_headers_report_the_tightest() {
    let s = set(&[
        (100, Unit::Requests),
        (10, Unit::Requests),
        (1000, Unit::Tokens),
    ]);
    let now = 10 * S;
    let v = s.admit(1, 600, now).unwrap();
    assert_eq!(v.refused, None);
    let h: std::collections::HashMap<_, _> = v.headers.iter().cloned().collect();
    assert_eq!(h["x-ratelimit-limit-requests"], "10");
    assert_eq!(h["x-ratelimit-remaining-requests"], "9");
    assert_eq!(h["x-ratelimit-reset-requests"], "6s");
    assert_eq!(h["x-ratelimit-remaining-tokens"], "400");
    assert_eq!(h["x-ratelimit-reset-tokens"], "36s");
    // the token bucket refuses: the request buckets are given back
    let v = s.admit(1, 500, now).unwrap();
    assert_eq!(v.refused, Some(2));
    assert!(!v.never);
    assert_eq!(v.used, 600);
    assert_eq!(ceil_ms(v.wait_ns), 6000);
    let h: std::collections::HashMap<_, _> = v.headers.iter().cloned().collect();
    assert_eq!(h["x-ratelimit-remaining-requests"], "9");
    let v = s.admit(1, 2000, now).unwrap();
    assert!(v.never);
    s.refund(600).unwrap();
    assert_eq!(s.admit(1, 1000, now).unwrap().refused, None);
}

#[test]
fn threads_never_exceed_the_limit() {
    let s = Arc::new(set(&[(500, Unit::Requests)]));
    let now = 100 * S;
    let admitted: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = Arc::clone(&s);
                scope.spawn(move || {
                    (0..200)
                        .filter(|_| s.admit(1, 0, now).unwrap().refused.is_none())
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(admitted, 500);
}

#[test]
fn pools_are_taken_all_or_nothing() {
    let s = set(&[(100, Unit::Requests), (1000, Unit::Tokens)]);
    assert_eq!(s.take_pool(2, 1, 10).unwrap(), Some(0));
    assert_eq!(s.add_pool(2, 0, 3).unwrap(), 3);
    assert_eq!(s.add_pool(2, 1, 15).unwrap(), 15);
    assert_eq!(s.take_pool(2, 1, 10).unwrap(), None);
    // tokens short: the request taken from bucket 0 is given back
    assert_eq!(s.take_pool(2, 1, 10).unwrap(), Some(1));
    assert_eq!(s.add_pool(2, 0, 0).unwrap(), 2);
    assert!(s.add_pool(2, 5, 1).is_err());
}
