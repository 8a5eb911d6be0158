//! Every saved input (fuzz/corpus/TARGET/*, the fuzzer's finds and the crashes it
//! found once) through its target: a regression shows up in `cargo test`.

use std::fs;
use std::path::Path;

#[test]
fn every_target_has_a_corpus_and_replays_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, target) in provocapi_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no saved corpus for {name}");
        for f in files {
            let data = fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} fails", f.display());
        }
    }
}
