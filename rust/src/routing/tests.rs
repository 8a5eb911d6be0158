use std::sync::Arc;

use super::*;
use crate::state::tests::TempPath;

struct Fixture {
    _path: TempPath,
    table: Arc<StateTable>,
    pool: Pool,
}

fn pool(n: usize, max_loras: usize, policy: Policy) -> Fixture {
    let path = TempPath::new("routing");
    let table = Arc::new(StateTable::open(&path.0, 256).unwrap());
    let workers = (0..n)
        .map(|i| WorkerSpec {
            load_slot: table.slot(&format!("w{i}")).unwrap(),
            lora_slot: table.slot(&format!("a{i}")).unwrap(),
            weight: 1,
            max_loras,
        })
        .collect();
    let clock = table.slot("clock").unwrap();
    let homes = vec![table.slot("homes").unwrap()];
    let pool = Pool::new(
        Arc::clone(&table),
        workers,
        clock,
        (1.5, 3.0),
        policy,
        homes,
    )
    .unwrap();
    Fixture {
        _path: path,
        table,
        pool,
    }
}

fn index(p: Pick) -> usize {
    match p {
        Pick::Worker { index, .. } => index,
        other => panic!("expected a worker, got {other:?}"),
    }
}

impl Fixture {
    fn set(&self, i: usize, field: usize, v: i64) {
        let slot = self.pool.workers[i].load_slot;
        self.table.set(slot, field, v).unwrap();
    }
    fn in_flight(&self, i: usize) -> i64 {
        self.table
            .get(self.pool.workers[i].load_slot, F_IN_FLIGHT)
            .unwrap()
    }
}

#[test]
fn least_loaded_spreads_evenly() {
    let f = pool(4, 0, Policy::Scan);
    for _ in 0..400 {
        f.pool.pick(Ask::default()).unwrap();
    }
    for i in 0..4 {
        assert_eq!(f.in_flight(i), 100);
    }
}

#[test]
fn two_choices_stays_close() {
    let f = pool(8, 0, Policy::TwoChoices);
    for _ in 0..800 {
        f.pool.pick(Ask::default()).unwrap();
    }
    for i in 0..8 {
        assert!((90..=110).contains(&f.in_flight(i)), "{}", f.in_flight(i));
    }
}

#[test]
fn queued_and_kv_count_as_load() {
    let f = pool(2, 0, Policy::Scan);
    f.set(0, F_QUEUED, 5);
    assert_eq!(index(f.pool.pick(Ask::default()).unwrap()), 1);
    f.set(0, F_QUEUED, 0);
    f.set(1, F_KV_PERMILLE, 950);
    f.set(0, F_KV_PERMILLE, 700); // below the busy mark: counts as 0
                                  // loads now equal (1 each after the release below); kv breaks the tie
    f.pool.release(1).unwrap();
    assert_eq!(index(f.pool.pick(Ask::default()).unwrap()), 0);
}

#[test]
fn caps_health_and_exclusions() {
    let f = pool(3, 0, Policy::Scan);
    for i in 0..3 {
        f.set(i, F_MAX_CONCURRENCY, 1);
    }
    f.set(2, F_HEALTH, HEALTH_DOWN);
    let a = index(f.pool.pick(Ask::default()).unwrap());
    let b = index(f.pool.pick(Ask::default()).unwrap());
    assert_ne!(a, b);
    assert!(a != 2 && b != 2);
    assert_eq!(f.pool.pick(Ask::default()).unwrap(), Pick::Full);
    f.pool.release(a).unwrap();
    let ask = Ask {
        exclude: 1 << a,
        ..Ask::default()
    };
    assert_eq!(f.pool.pick(ask).unwrap(), Pick::Full);
    let both = Ask {
        exclude: (1 << a) | (1 << b),
        ..Ask::default()
    };
    assert_eq!(f.pool.pick(both).unwrap(), Pick::NoneReady);
    assert_eq!(index(f.pool.pick(Ask::default()).unwrap()), a);
    for i in 0..3 {
        f.set(i, F_HEALTH, HEALTH_STARTING);
    }
    assert_eq!(f.pool.pick(Ask::default()).unwrap(), Pick::NoneReady);
}

#[test]
fn release_never_goes_negative() {
    let f = pool(1, 0, Policy::Scan);
    f.pool.release(0).unwrap();
    assert_eq!(f.in_flight(0), 0);
    assert!(f.pool.release(5).is_err());
}

#[test]
fn prefix_sticks_then_spills_over() {
    let f = pool(4, 0, Policy::Scan);
    let ask = Ask {
        prefix: prefix_hash(b"system: you are terse"),
        ..Ask::default()
    };
    let home = index(f.pool.pick(ask).unwrap());
    f.pool.release(home).unwrap();
    for _ in 0..20 {
        let i = index(f.pool.pick(ask).unwrap());
        assert_eq!(i, home);
        f.pool.release(i).unwrap();
    }
    // held concurrently, the home takes at most load_factor x the mean
    for _ in 0..40 {
        f.pool.pick(ask).unwrap();
    }
    assert!(f.in_flight(home) <= 16, "home {}", f.in_flight(home));
    assert!((0..4).all(|i| f.in_flight(i) > 0));
    // other prefixes do not disturb the balance: no home yet, least loaded
    let other = Ask {
        prefix: prefix_hash(b"another conversation"),
        ..Ask::default()
    };
    let light = (0..4).min_by_key(|&i| f.in_flight(i)).unwrap();
    let got = index(f.pool.pick(other).unwrap());
    assert_eq!(f.in_flight(got), f.in_flight(light));
}

#[test]
fn adapters_find_their_worker() {
    let f = pool(4, 2, Policy::Scan);
    let mut hits = 0;
    let mut total = 0;
    for round in 0..50 {
        for adapter in 1..=8 {
            let p = f
                .pool
                .pick(Ask {
                    adapter,
                    ..Ask::default()
                })
                .unwrap();
            if let Pick::Worker { index, adapter_hit } = p {
                total += 1;
                hits += i32::from(adapter_hit);
                assert!(f.pool.holds(index, adapter).unwrap());
                if round % 2 == 0 {
                    f.pool.release(index).unwrap();
                }
            }
        }
        for i in 0..4 {
            while f.in_flight(i) > 3 {
                f.pool.release(i).unwrap();
            }
        }
    }
    assert!(hits * 10 >= total * 9, "{hits}/{total}");
}

#[test]
fn lru_evicts_the_oldest() {
    let f = pool(1, 2, Policy::Scan);
    let ask = |adapter| Ask {
        adapter,
        ..Ask::default()
    };
    for a in [1, 2, 1, 3] {
        f.pool.pick(ask(a)).unwrap();
    }
    assert!(f.pool.holds(0, 1).unwrap());
    assert!(f.pool.holds(0, 3).unwrap());
    assert!(!f.pool.holds(0, 2).unwrap());
}

#[test]
fn bad_settings_are_refused() {
    let path = TempPath::new("routing-bad");
    let table = Arc::new(StateTable::open(&path.0, 16).unwrap());
    let spec = |weight, max_loras| WorkerSpec {
        load_slot: 0,
        lora_slot: 1,
        weight,
        max_loras,
    };
    let mk = |w: Vec<WorkerSpec>, lf: f64| {
        Pool::new(Arc::clone(&table), w, 2, (lf, 3.0), Policy::Scan, vec![])
    };
    assert!(mk(vec![spec(0, 0)], 1.5).is_err());
    assert!(mk(vec![spec(1, LORA_MAX + 1)], 1.5).is_err());
    assert!(mk(vec![spec(1, 0)], 0.5).is_err());
    assert!(mk(vec![spec(1, 0)], f64::NAN).is_err());
    assert!(mk(vec![spec(1, 0); MAX_WORKERS + 1], 1.5).is_err());
    assert_eq!(Policy::parse("nope"), None);
}

#[test]
fn prefix_hash_tells_near_prefixes_apart() {
    let base: Vec<u8> = (0..=255u8).cycle().take(2051).collect(); // 256 words and a tail
    let h = prefix_hash(&base);
    assert_eq!(h, prefix_hash(&base.clone()));
    let mut seen = std::collections::HashSet::new();
    seen.insert(h);
    for at in 0..base.len() {
        let mut other = base.clone();
        other[at] ^= 1;
        assert!(
            seen.insert(prefix_hash(&other)),
            "a flip at byte {at} collided"
        );
    }
    // a zero-padded tail is not the same as real zeros, nor a shorter prefix
    assert_ne!(prefix_hash(b"abc"), prefix_hash(b"abc\0"));
    assert_ne!(prefix_hash(b"abcdefgh"), prefix_hash(b"abcdefg"));
    assert_ne!(prefix_hash(b""), 0);
}

#[test]
fn held_units_are_booked_with_the_pick_and_the_release() {
    let f = pool(2, 0, Policy::Scan);
    let ledger: Vec<usize> = (0..2)
        .map(|i| f.table.slot(&format!("held{i}")).unwrap())
        .collect();
    // before `hold`, a pick books nothing else
    let Pick::Worker { index: first, .. } = f.pool.pick(Ask::default()).unwrap() else {
        panic!("a worker is free");
    };
    f.pool.release(first).unwrap();
    assert_eq!(f.table.get(ledger[first], 0).unwrap(), 0);
    f.pool.hold(&ledger).unwrap();
    let Pick::Worker { index, .. } = f.pool.pick(Ask::default()).unwrap() else {
        panic!("a worker is free");
    };
    assert_eq!(f.table.get(ledger[index], 0).unwrap(), 1);
    assert_eq!(f.table.get(ledger[1 - index], 0).unwrap(), 0);
    f.pool.release(index).unwrap();
    assert_eq!(f.table.get(ledger[index], 0).unwrap(), 0);
}

#[test]
fn hold_refuses_a_wrong_count_or_a_bad_slot() {
    let f = pool(2, 0, Policy::Scan);
    let one = f.table.slot("held0").unwrap();
    assert!(matches!(f.pool.hold(&[one]), Err(Error::BadSlot(_))));
    assert!(matches!(
        f.pool.hold(&[one, 10_000]),
        Err(Error::BadSlot(_))
    ));
    // refused as a whole: the good slot was not taken either
    let Pick::Worker { index, .. } = f.pool.pick(Ask::default()).unwrap() else {
        panic!("a worker is free");
    };
    f.pool.release(index).unwrap();
    assert_eq!(f.table.get(one, 0).unwrap(), 0);
}
