#![no_main]
#![allow(dead_code)]
//! cargo fuzz target `ndjson_reader`: see `fuzz/harness.rs`.
include!("../harness.rs");
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_ndjson_reader(data));
