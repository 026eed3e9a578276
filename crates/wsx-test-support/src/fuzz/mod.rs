//! The checks behind the cargo-fuzz targets in `fuzz/`, one module per target, each with
//! a `run(&[u8])` that panics when an invariant fails. They live here rather than in the
//! fuzz binaries so that an ordinary `cargo test` can replay the committed reproducers
//! (`tests/fuzz_regressions.rs`): the fuzz crate is its own workspace, needs libFuzzer and
//! nightly flags, and is never built by the main workspace, while this crate is. Each
//! module's documentation gives its target's input layout.
//!
//! They depend on wsx-proto only (and the small crates it uses), which is why they build
//! without this crate's `wsx` feature — except `hub_command`, the hub's JSON command
//! parser, behind the `hub` feature.

pub mod api;
pub mod connection;
pub mod frame_header;
pub mod handshake;
#[cfg(feature = "hub")]
pub mod hub_command;
pub mod inflate;

/// A target's checks: panics when an input breaks an invariant.
pub type Target = fn(&[u8]);

/// Every target by the name of its binary, which is also the name of its directory in
/// `fuzz/corpus/` and `fuzz/regressions/`.
pub fn targets() -> Vec<(&'static str, Target)> {
    let mut all: Vec<(&'static str, Target)> = vec![
        ("api", api::run),
        ("connection", connection::run),
        ("frame_header", frame_header::run),
        ("handshake", handshake::run),
        ("inflate", inflate::run),
    ];
    #[cfg(feature = "hub")]
    all.push(("hub_command", hub_command::run));
    all
}

/// The target called `name`, if there is one.
pub fn target(name: &str) -> Option<Target> {
    targets()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, run)| run)
}
