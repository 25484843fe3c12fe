//! The `descriptor` fuzz target: see `bodies::descriptor`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::descriptor(data));
