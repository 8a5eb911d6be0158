use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::layout::{file_len, HEADER_SIZE, KEY_MAX, SLOT_SIZE};
use super::{Error, StateTable};

/// A unique path in the temp dir, removed on drop.
pub(crate) struct TempPath(pub PathBuf);

impl TempPath {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("provocapi-test-{tag}-{}-{n}", std::process::id());
        let p = std::env::temp_dir().join(name);
        let _ = fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn insert_then_find() {
    let p = TempPath::new("insert");
    let t = StateTable::open(&p.0, 64).unwrap();
    assert_eq!(t.find("a").unwrap(), None);
    let a = t.slot("a").unwrap();
    let b = t.slot("b").unwrap();
    assert_ne!(a, b);
    assert_eq!(t.slot("a").unwrap(), a);
    assert_eq!(t.find("a").unwrap(), Some(a));
    assert_eq!(t.find("b").unwrap(), Some(b));
    assert_eq!(t.find("c").unwrap(), None);
    assert_eq!(t.key(a).unwrap().as_deref(), Some("a"));
    assert_eq!(fs::metadata(&p.0).unwrap().len(), file_len(64) as u64);
}

#[test]
fn collisions_probe_and_fill() {
    let p = TempPath::new("collide");
    let t = StateTable::open(&p.0, 4).unwrap();
    let slots: Vec<usize> = (0..4).map(|i| t.slot(&format!("k{i}")).unwrap()).collect();
    let mut sorted = slots.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![0, 1, 2, 3], "four keys must fill four slots");
    for (i, s) in slots.iter().enumerate() {
        assert_eq!(t.find(&format!("k{i}")).unwrap(), Some(*s));
    }
    assert!(matches!(t.slot("k4"), Err(Error::Full { capacity: 4 })));
    assert_eq!(
        t.find("k4").unwrap(),
        None,
        "find on a full table must not loop or fail"
    );
    assert_eq!(
        t.slot("k2").unwrap(),
        slots[2],
        "existing keys still resolve when full"
    );
}

#[test]
fn key_length_limit() {
    let p = TempPath::new("keylen");
    let t = StateTable::open(&p.0, 8).unwrap();
    let longest = "x".repeat(KEY_MAX);
    let s = t.slot(&longest).unwrap();
    assert_eq!(t.key(s).unwrap().as_deref(), Some(longest.as_str()));
    let err = t.slot(&"x".repeat(KEY_MAX + 1)).unwrap_err();
    assert!(matches!(err, Error::KeyTooLong { len, max } if len == KEY_MAX + 1 && max == KEY_MAX));
    assert!(
        matches!(t.find(&"é".repeat(KEY_MAX)), Err(Error::KeyTooLong { .. })),
        "limit counts bytes"
    );
}

#[test]
fn field_ops() {
    let p = TempPath::new("ops");
    let t = StateTable::open(&p.0, 8).unwrap();
    let s = t.slot("k").unwrap();
    assert_eq!(t.get(s, 0).unwrap(), 0);
    assert_eq!(t.add(s, 0, 5).unwrap(), 5);
    assert_eq!(t.add(s, 0, -7).unwrap(), -2);
    t.set(s, 31, 40).unwrap();
    assert!(!t.compare_and_swap(s, 31, 41, 0).unwrap());
    assert!(t.compare_and_swap(s, 31, 40, 9).unwrap());
    assert_eq!(t.get(s, 31).unwrap(), 9);
    assert_eq!(t.fetch_max(s, 31, 3).unwrap(), 9);
    assert_eq!(t.get(s, 31).unwrap(), 9);
    assert_eq!(t.fetch_max(s, 31, 12).unwrap(), 9);
    assert_eq!(t.get(s, 31).unwrap(), 12);
    assert_eq!(t.add(s, 1, i64::MAX).unwrap(), i64::MAX);
    assert_eq!(t.add(s, 1, 1).unwrap(), i64::MIN, "adds wrap");
}

#[test]
fn bad_slot_and_field() {
    let p = TempPath::new("bounds");
    let t = StateTable::open(&p.0, 8).unwrap();
    let s = t.slot("k").unwrap();
    assert!(matches!(t.get(s, 32), Err(Error::BadField(32))));
    assert!(matches!(t.add(8, 0, 1), Err(Error::BadSlot(8))));
    assert!(matches!(t.set(usize::MAX, 0, 1), Err(Error::BadSlot(_))));
    let empty = (s + 1) % 8;
    assert!(
        matches!(t.add(empty, 0, 1), Err(Error::BadSlot(_))),
        "no writes into unclaimed slots"
    );
    assert_eq!(t.key(empty).unwrap(), None);
    assert!(matches!(t.key(8), Err(Error::BadSlot(8))));
}

#[test]
fn threads_sum_exactly() {
    let p = TempPath::new("threads");
    let t = Arc::new(StateTable::open(&p.0, 64).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let s = t.slot("hits").unwrap();
                for _ in 0..50_000 {
                    t.add(s, 3, 1).unwrap();
                    t.fetch_max(s, 4, 7).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = t.find("hits").unwrap().unwrap();
    assert_eq!(t.get(s, 3).unwrap(), 400_000);
    assert_eq!(t.get(s, 4).unwrap(), 7);
}

#[test]
fn concurrent_inserts_agree() {
    // Many threads, each with its own mapping (as separate processes would),
    // racing to insert the same keys into a table with little free room.
    let p = TempPath::new("race");
    let path = p.0.clone();
    StateTable::open(&path, 256).unwrap();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let t = StateTable::open(&path, 256).unwrap();
                (0..200)
                    .map(|i| t.slot(&format!("key-{i}")).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<Vec<usize>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        results.iter().all(|r| r == &results[0]),
        "every mapping must see the same slots"
    );
    let t = StateTable::open(&path, 256).unwrap();
    assert_eq!(t.entries("key-").unwrap().len(), 200);
}

#[test]
fn two_mappings_share_state() {
    let p = TempPath::new("share");
    let a = StateTable::open(&p.0, 16).unwrap();
    let b = StateTable::open(&p.0, 16).unwrap();
    let s = a.slot("x").unwrap();
    a.add(s, 0, 3).unwrap();
    assert_eq!(b.find("x").unwrap(), Some(s));
    assert_eq!(b.add(s, 0, 4).unwrap(), 7);
    assert_eq!(a.get(s, 0).unwrap(), 7);
}

#[test]
fn entries_filter_by_prefix() {
    let p = TempPath::new("entries");
    let t = StateTable::open(&p.0, 32).unwrap();
    let m1 = t.slot("m:a").unwrap();
    let m2 = t.slot("m:b").unwrap();
    t.slot("rl:tenant").unwrap();
    let mut got = t.entries("m:").unwrap();
    got.sort();
    assert_eq!(got, vec![("m:a".to_string(), m1), ("m:b".to_string(), m2)]);
    assert_eq!(t.entries("").unwrap().len(), 3);
}

#[test]
fn header_mismatch_is_an_error() {
    let p = TempPath::new("mismatch");
    StateTable::open(&p.0, 16).unwrap();
    assert!(matches!(
        StateTable::open(&p.0, 32),
        Err(Error::Mismatch(_))
    ));
    // Another layout version.
    let mut bytes = fs::read(&p.0).unwrap();
    bytes[8] = bytes[8].wrapping_add(1);
    fs::write(&p.0, &bytes).unwrap();
    assert!(matches!(
        StateTable::open(&p.0, 16),
        Err(Error::Mismatch(_))
    ));
}

#[test]
fn corrupt_files_are_errors() {
    let p = TempPath::new("corrupt");
    fs::write(&p.0, b"short").unwrap();
    assert!(matches!(StateTable::open(&p.0, 16), Err(Error::Corrupt(_))));
    fs::write(&p.0, vec![0x5au8; file_len(16)]).unwrap();
    assert!(matches!(StateTable::open(&p.0, 16), Err(Error::Corrupt(_))));

    // Valid header, wrong length.
    let _ = fs::remove_file(&p.0);
    StateTable::open(&p.0, 16).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&p.0).unwrap();
    f.set_len(file_len(16) as u64 + 1).unwrap();
    assert!(matches!(StateTable::open(&p.0, 16), Err(Error::Corrupt(_))));
}

#[test]
fn corrupt_slots_are_errors() {
    let p = TempPath::new("corrupt-slot");
    let t = StateTable::open(&p.0, 4).unwrap();
    let s = t.slot("k").unwrap();
    drop(t);
    let mut bytes = fs::read(&p.0).unwrap();
    let base = HEADER_SIZE + s * SLOT_SIZE;
    bytes[base + 4..base + 8].copy_from_slice(&1000u32.to_ne_bytes()); // key_len past KEY_MAX
    fs::write(&p.0, &bytes).unwrap();
    let t = StateTable::open(&p.0, 4).unwrap();
    assert!(matches!(t.entries(""), Err(Error::Corrupt(_))));
    assert!(matches!(t.key(s), Err(Error::Corrupt(_))));

    bytes[base..base + 4].copy_from_slice(&7u32.to_ne_bytes()); // unknown state
    fs::write(&p.0, &bytes).unwrap();
    let t = StateTable::open(&p.0, 4).unwrap();
    assert!(matches!(t.slot("k"), Err(Error::Corrupt(_))));
}

#[test]
fn abandoned_claim_times_out() {
    let p = TempPath::new("stuck");
    let t = StateTable::open(&p.0, 1).unwrap();
    drop(t);
    let mut bytes = fs::read(&p.0).unwrap();
    bytes[HEADER_SIZE..HEADER_SIZE + 4].copy_from_slice(&1u32.to_ne_bytes()); // claiming, forever
    fs::write(&p.0, &bytes).unwrap();
    let t = StateTable::open(&p.0, 1).unwrap();
    assert!(matches!(t.slot("k"), Err(Error::Stuck(0))));
    assert!(t.entries("").unwrap().is_empty());
}

#[test]
fn half_initialised_file_is_taken_over() {
    // A creator that died after sizing the file but before the magic.
    let p = TempPath::new("half");
    fs::write(&p.0, vec![0u8; file_len(8)]).unwrap();
    let t = StateTable::open(&p.0, 8).unwrap();
    t.slot("k").unwrap();
    assert!(StateTable::open(&p.0, 8).is_ok());
}

#[test]
fn capacity_bounds() {
    let p = TempPath::new("cap");
    assert!(matches!(
        StateTable::open(&p.0, 0),
        Err(Error::BadCapacity(0))
    ));
    assert!(matches!(
        StateTable::open(&p.0, usize::MAX),
        Err(Error::BadCapacity(_))
    ));
}
