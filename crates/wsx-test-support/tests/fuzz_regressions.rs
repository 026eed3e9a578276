//! Replays the fuzz inputs that are committed, through the same checks the fuzz targets
//! run ([`wsx_test_support::fuzz`]), so a change to wsx-proto that brings back an old
//! crash fails `cargo test` and not only a fuzzing campaign nobody happens to run:
//!
//! - every file in `fuzz/regressions/<target>/` (inputs that crashed a target once);
//! - the seeds in `fuzz/corpus/<target>/seed-*`, as a cheap smoke run of each target.
//!   What libFuzzer adds to `corpus/` is local and untracked, so it is left out: this
//!   test's verdict should not depend on whoever fuzzed last on the machine.
//!
//! A directory named after no target fails the test, rather than being skipped: its
//! inputs would otherwise never run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use wsx_test_support::fuzz;
use wsx_test_support::repo_root;

/// The `(target, file)` pairs under `fuzz/<dir>/`, sorted, keeping files `keep` accepts.
fn inputs(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<(String, PathBuf)> {
    let root = repo_root().join("fuzz").join(dir);
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let target_dir = entry.unwrap().path();
        if !target_dir.is_dir() {
            continue;
        }
        let target = target_dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            fuzz::target(&target).is_some(),
            "{}: no fuzz target is called {target:?} (known: {:?})",
            target_dir.display(),
            fuzz::targets().into_iter().map(|(name, _)| name)
        );
        for file in std::fs::read_dir(&target_dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_file() && keep(&name) {
                found.push((target.clone(), path));
            }
        }
    }
    found.sort();
    found
}

/// Runs each input through its target; fails with the list of the inputs that panicked
/// (each panic's message is printed as it happens).
fn replay(inputs: &[(String, PathBuf)]) {
    let mut failed = Vec::new();
    for (target, path) in inputs {
        let run = fuzz::target(target).expect("checked when listing");
        let data = std::fs::read(path).unwrap();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failed.push(format!("{target}: {}: {why}", shown(path)));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs failed:\n{}",
        failed.len(),
        inputs.len(),
        failed.join("\n")
    );
}

fn shown(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_regression_input_passes() {
    let inputs = inputs("regressions", |_| true);
    assert!(!inputs.is_empty(), "no files under fuzz/regressions");
    replay(&inputs);
}

#[test]
fn every_committed_seed_passes() {
    let inputs = inputs("corpus", |name| name.starts_with("seed-"));
    for (target, _) in fuzz::targets() {
        assert!(
            inputs.iter().any(|(t, _)| t == target),
            "no seeds for {target} in fuzz/corpus/{target} (run fuzz/seeds.py)"
        );
    }
    replay(&inputs);
}
