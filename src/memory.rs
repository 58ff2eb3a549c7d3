//! Handing freed memory back to the system after the few operations that
//! allocate a lot at once: a password hash or check (argon2id's 19 MiB work
//! area) and a CSV export (every row of an event, then the file). The
//! server's allocator keeps freed pages for reuse and gives them back only
//! when later frees reach its purge check, which an idle server doesn't
//! make; the server binary sets [`on_release`] to collect them
//! (src/main.rs). Unset, [`release`] does nothing.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Sets what [`release`] runs; the first call wins.
pub fn on_release(hook: fn()) {
    let _ = RELEASE.set(hook);
}

/// Call on the thread that has just freed a large amount of memory: the
/// allocator's per-thread caches can only be collected from their thread.
pub fn release() {
    if let Some(hook) = RELEASE.get() {
        hook();
    }
}
