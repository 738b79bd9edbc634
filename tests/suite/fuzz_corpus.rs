//! The fuzz smoke: every input in the checked-in corpora (`fuzz/corpus/<target>/`, seeds
//! plus what `cargo fuzz` kept as new coverage) goes through the same harness the fuzzer
//! ran (`fuzz/harness.rs`), so a crash the fuzzer found and a fix made stay fixed.

#[allow(dead_code)]
mod harness {
    include!("../../fuzz/harness.rs");
}

#[test]
fn every_fuzz_corpus_input_passes_its_harness() {
    let root = super::common::root().join("fuzz/corpus");
    let mut ran = Vec::new();
    for (name, harness) in harness::TARGETS {
        let dir = root.join(name);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus `{}`: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        assert!(!entries.is_empty(), "corpus `{}` is empty", dir.display());
        for p in &entries {
            let data = std::fs::read(p).unwrap();
            let outcome = std::panic::catch_unwind(|| harness(&data));
            assert!(outcome.is_ok(), "fuzz target `{name}` fails on `{}`", p.display());
        }
        ran.push((name, entries.len()));
    }
    assert_eq!(ran.len(), harness::TARGETS.len());
}
