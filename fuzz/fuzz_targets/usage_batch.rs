//! The `usage_batch` fuzz target: see `bodies::usage_batch`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::usage_batch(data));
