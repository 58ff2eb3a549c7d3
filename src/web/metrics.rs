//! `/metrics` in Prometheus' text format: requests by route and status,
//! check-ins by outcome, live sockets and how long the live hub's passes
//! and computations take, database pool use, mail. Off unless
//! a metrics token is configured; then only `Authorization: Bearer <token>`
//! may read it (compared in constant time).

use super::AppState;
use crate::live::HubTimings;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::sync::atomic::Ordering;
use subtle::ConstantTimeEq;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    checkins: IntCounterVec,
    dashboard_sockets: IntGauge,
    watch_sockets: IntGauge,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    mail: IntCounterVec,
    /// Scrapes copy the mail counters in; one at a time, so two scrapes
    /// can't both add the same difference.
    scraping: std::sync::Mutex<()>,
    token: Option<String>,
}

impl Metrics {
    pub fn new(token: Option<String>, live: &HubTimings) -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("rollcall".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern and status",
            ),
            &["route", "status"],
        )?;
        let checkins = IntCounterVec::new(
            Opts::new(
                "checkins_total",
                "Door check-ins by outcome (and reason when rejected)",
            ),
            &["outcome", "reason"],
        )?;
        let dashboard_sockets =
            IntGauge::new("live_dashboard_sockets", "Dashboard WebSockets open")?;
        let watch_sockets =
            IntGauge::new("live_watch_sockets", "Watch-page presence sockets open")?;
        let pool_connections = IntGauge::new("db_pool_connections", "Database connections open")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "Database connections idle")?;
        let mail = IntCounterVec::new(
            Opts::new("mail_messages_total", "Outgoing mail by fate"),
            &["fate"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(checkins.clone()))?;
        registry.register(Box::new(dashboard_sockets.clone()))?;
        registry.register(Box::new(watch_sockets.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(mail.clone()))?;
        registry.register(Box::new(live.passes.clone()))?;
        registry.register(Box::new(live.computations.clone()))?;
        registry.register(Box::new(live.updates.clone()))?;
        Ok(Self {
            registry,
            requests,
            checkins,
            dashboard_sockets,
            watch_sockets,
            pool_connections,
            pool_idle,
            mail,
            scraping: std::sync::Mutex::new(()),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    pub fn checkin(&self, outcome: &str, reason: &str) {
        self.checkins.with_label_values(&[outcome, reason]).inc();
    }
}

/// Middleware: counts every request by its route pattern (never the path
/// itself, which may hold a personal token) and status.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(req).await?;
    if let Some(state) = state {
        // Asked after routing, which recorded the matched resource: asked
        // before, actix matches the path against every pattern again, and
        // that was 6 % of the workers' time in a door rush.
        let route = response.request().match_pattern();
        state
            .metrics
            .requests
            .with_label_values(&[
                route.as_deref().unwrap_or("unmatched"),
                response.status().as_str(),
            ])
            .inc();
    }
    Ok(response)
}

pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let metrics = &state.metrics;
    let Some(expected) = &metrics.token else {
        return HttpResponse::NotFound().finish();
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .finish();
    }
    let _one_scrape = metrics.scraping.lock().unwrap_or_else(|e| e.into_inner());
    let (dashboards, watchers) = state.live.socket_counts();
    metrics.dashboard_sockets.set(dashboards);
    metrics.watch_sockets.set(watchers);
    let pool = state.pool.state();
    metrics.pool_connections.set(i64::from(pool.connections));
    metrics.pool_idle.set(i64::from(pool.idle_connections));
    let mail = state.mailer.stats();
    for (fate, counter) in [
        ("queued", &mail.queued),
        ("delivered", &mail.delivered),
        ("failed", &mail.failed),
        ("dropped", &mail.dropped),
    ] {
        let seen = metrics.mail.with_label_values(&[fate]);
        let now = counter.load(Ordering::Relaxed);
        seen.inc_by(now.saturating_sub(seen.get()));
    }
    let mut text = Vec::new();
    if TextEncoder::new()
        .encode(&metrics.registry.gather(), &mut text)
        .is_err()
    {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
