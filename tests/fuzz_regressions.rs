//! Replays every input kept in `fuzz/regressions/<target>/` (inputs that once made a fuzz target
//! fail) through the same body the fuzz target runs: each must pass now.

#[path = "../fuzz/bodies.rs"]
mod bodies;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            panic!("{} fails again", path.display());
        }
    }
}

#[test]
fn kept_fuzz_inputs_pass() {
    replay("descriptor", bodies::descriptor);
    replay("query", bodies::query);
    replay("entity_ref", bodies::entity_ref);
    replay("cursor", bodies::cursor);
    replay("webhook", bodies::webhook);
    replay("usage_batch", bodies::usage_batch);
}
