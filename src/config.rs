//! Settings, from flags and `ROLLCALL_*` environment variables (see cli.rs).

use crate::db::DatabaseUrl;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseUrl,
    /// Address the HTTP server listens on, e.g. `127.0.0.1:8080`.
    pub bind: String,
    /// Base of the links put in mail (`https://rollcall.example.org`);
    /// defaults to `http://{bind}`.
    pub public_url: Option<String>,
    pub mail: MailConfig,
    pub pool_size: u32,
    pub rate_limits: crate::web::limits::RateLimitConfig,
    /// Bearer token that may read `/metrics`; `None`: `/metrics` is off.
    pub metrics_token: Option<String>,
    /// Dashboards the hub hands an update to at a time ([`crate::live::SHARE`];
    /// tests use fewer, to see rounds of several shares).
    pub live_share: usize,
}

#[derive(Clone, Debug)]
pub struct MailConfig {
    /// With no SMTP URL, messages are written here as `.eml` files.
    pub outbox_dir: PathBuf,
    /// `smtp://user:pass@host:587?tls=required` or `smtps://…` (lettre's syntax).
    pub smtp_url: Option<String>,
    pub from: String,
}

impl Config {
    /// The public base URL without a trailing slash.
    pub fn base_url(&self, bound_port: u16) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host = self
                    .bind
                    .rsplit_once(':')
                    .map_or(self.bind.as_str(), |(host, _)| host);
                format!("http://{host}:{bound_port}")
            }
        }
    }
}
