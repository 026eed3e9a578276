//! The `api` target: a wrapper, so that `cargo test` can run the same checks on the
//! committed inputs. The checks and the input layout are in
//! `crates/wsx-test-support/src/fuzz/api.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsx_test_support::fuzz::api::run(data));
