//! Handing memory back to the operating system after bulk work.
//!
//! The binary allocates through mimalloc. By default mimalloc keeps freed pages for a while
//! (`purge_delay`) and, in arenas committed eagerly, purges them with a reset the kernel may
//! take back only under pressure, so the resident size after a bulk load stayed near its peak.
//! [`configure_allocator`] asks for arenas committed on demand and purges at once while the
//! start-up load runs; [`release`] collects every heap once a
//! bulk load has finished. Neither changes what is allocated, only when it is returned.

/// mimalloc v3's `mi_option_arena_eager_commit` and `mi_option_purge_delay` (mimalloc.h).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator's purge options, unless the environment (`MIMALLOC_*`) set them. Runs
/// before the allocator's first use (the binary calls it from `.init_array`), so it reads the
/// environment through libc and allocates nothing.
pub extern "C" fn configure_allocator() {
    unsafe extern "C" {
        fn getenv(name: *const std::ffi::c_char) -> *const std::ffi::c_char;
    }
    let set = |name: &std::ffi::CStr, option, value| {
        // SAFETY: getenv reads a NUL-terminated name; mi_option_set only stores a value.
        unsafe {
            if getenv(name.as_ptr()).is_null() {
                libmimalloc_sys::mi_option_set(option, value);
            }
        }
    };
    set(c"MIMALLOC_ARENA_EAGER_COMMIT", ARENA_EAGER_COMMIT, 0);
    set(c"MIMALLOC_PURGE_DELAY", PURGE_DELAY, 0);
}

/// mimalloc's own purge delay, for serving: purging at once made every large answer fault its
/// pages in again (uncached by-query 550 -> 355 req/s at 10k).
const SERVING_PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Returns freed memory to the operating system now: mimalloc's (Rust's allocations) and the C
/// library's (SQLite's page caches and libpq allocate through `malloc`). From then on mimalloc
/// purges after its usual delay again (unless `MIMALLOC_PURGE_DELAY` says otherwise).
pub fn release() {
    // SAFETY: collects the calling thread's heap and purges free arena memory; no pointers
    // are handed over.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim only releases free memory of its own arenas.
        unsafe { malloc_trim(0) };
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option setter.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, SERVING_PURGE_DELAY_MS) };
    }
}

/// The resident set size of this process in KiB, where `/proc` tells it.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
