//! Logging setup. Log lines carry ids and outcomes, never names, emails or codes.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("ROLLCALL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    // A second init (tests spawn many apps) is harmless.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
