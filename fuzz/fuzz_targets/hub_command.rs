//! The `hub_command` target: the hub's JSON command parser. The checks are in
//! `crates/wsx-test-support/src/fuzz/hub_command.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsx_test_support::fuzz::hub_command::run(data));
