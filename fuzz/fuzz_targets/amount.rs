#![no_main]
#![allow(dead_code)]
//! cargo fuzz target `amount`: see `fuzz/harness.rs`.
include!("../harness.rs");
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_amount(data));
