#![no_main]
#![allow(dead_code)]
//! cargo fuzz target `csv_reader`: see `fuzz/harness.rs`.
include!("../harness.rs");
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_csv_reader(data));
