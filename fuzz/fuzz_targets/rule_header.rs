#![no_main]
#![allow(dead_code)]
//! cargo fuzz target `rule_header`: see `fuzz/harness.rs`.
include!("../harness.rs");
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_rule_header(data));
