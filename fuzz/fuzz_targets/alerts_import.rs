#![no_main]
#![allow(dead_code)]
//! cargo fuzz target `alerts_import`: see `fuzz/harness.rs`.
include!("../harness.rs");
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_alerts_import(data));
