//! Which files a location may read: the configured `reading.file_roots`, checked lexically and
//! after symlinks; and the absolute form of a path.

use std::path::{Path, PathBuf};

/// Is this path inside one of the roots? Checked on the path itself first (`.` and `..`
/// resolved lexically), before the file system is asked, so a path outside gets the same answer
/// whether or not it exists; then again after symlinks, so a link inside cannot lead out. For a
/// glob, its fixed leading folder is checked.
pub fn check_file_root(path: &Path, roots: &[PathBuf]) -> Result<(), String> {
    if roots.is_empty() {
        return Err(
            "file locations cannot be registered through the API unless reading.file_roots is configured".into()
        );
    }
    let outside = || format!("{} is outside the configured reading.file_roots", path.display());
    if !roots.iter().any(|r| absolute(&fixed_part(path)).starts_with(r)) {
        return Err(outside());
    }
    if inside_roots(path, roots)? { Ok(()) } else { Err(outside()) }
}

/// A glob's fixed leading folder; any other path itself.
fn fixed_part(path: &Path) -> PathBuf {
    if path.to_string_lossy().contains(['*', '?', '[']) {
        path.components().take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '['])).collect()
    } else {
        path.to_path_buf()
    }
}

/// Is this path (for a glob, its fixed leading folder), after symlinks and `..`, inside one of
/// the canonical roots? An error when it cannot be resolved.
pub(super) fn inside_roots(path: &Path, roots: &[PathBuf]) -> Result<bool, String> {
    let fixed = fixed_part(path);
    let canonical = fixed.canonicalize().map_err(|e| format!("cannot read {}: {e}", fixed.display()))?;
    Ok(roots.iter().any(|r| canonical.starts_with(r)))
}

/// Absolute, normalised form of a path (without requiring it to exist).
pub fn absolute(path: &Path) -> PathBuf {
    let joined =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
