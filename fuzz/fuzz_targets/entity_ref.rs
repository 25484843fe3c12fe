//! The `entity_ref` fuzz target: see `bodies::entity_ref`.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::entity_ref(data));
