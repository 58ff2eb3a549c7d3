//! HTTP: thin handlers that extract, authorise, call the db layer and render.
//! One module per area; `error.rs` maps every failure to a response once.

mod access_log;
mod admin;
pub mod api;
pub mod auth;
pub mod csrf;
pub mod error;

mod health;
pub mod limits;
mod live;
pub mod metrics;
mod online;
mod pages;
mod personal;
mod registration;
mod report;
mod scan;
mod static_files;

use crate::db::Pool;
use crate::mail::Mailer;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self, ServiceConfig};
use actix_web::HttpResponse;
use askama::Template;
use error::AppError;

pub struct AppState {
    pub pool: Pool,
    pub metrics: metrics::Metrics,
    pub limits: limits::RateLimits,
    /// Door check-ins, group-committed: batched, one commit per batch.
    pub checkins: crate::db::group_commit::GroupWriter<
        crate::db::checkins::ScanRequest,
        crate::db::checkins::ScanOutcome,
    >,
    /// Join links, group-committed: a keynote's start is thousands at once.
    pub joins: crate::db::group_commit::GroupWriter<
        crate::db::online::JoinAsk,
        Option<crate::db::online::JoinOutcome>,
    >,
    /// SQLite's checkpoints, off the door writer's path, for as long as
    /// the app runs (`None` on PostgreSQL).
    pub checkpoints: Option<crate::db::checkpoints::Checkpointer>,
    pub mailer: Mailer,
    pub csrf: csrf::CsrfKey,
    pub login_throttle: crate::auth::throttle::LoginThrottle,
    pub live: crate::live::Live,
    pub tickets: crate::auth::tickets::TicketKey,
    /// Public base URL for links in mail, without a trailing slash.
    pub base_url: String,
}

/// Largest participant upload accepted (the import form).
pub fn admin_upload_limit() -> usize {
    admin::import::UPLOAD_LIMIT_BYTES
}

/// Largest form body accepted; a registration is well under 4 KiB.
pub const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// Every page and API response carries these: no inline scripts or styles,
/// no framing, no MIME sniffing, no full URLs (personal tokens) in Referer.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(FORM_LIMIT_BYTES))
        .service(
            web::scope("")
                // Paths only: personal tokens are in URLs, so never log queries
                // or full URIs (`access_log`).
                .wrap(actix_web::middleware::from_fn(access_log::log_requests))
                .wrap(security_headers())
                .wrap(actix_web::middleware::from_fn(limits::guard_personal_links))
                .wrap(actix_web::middleware::from_fn(metrics::count_requests))
                .route("/healthz", web::get().to(health::healthz))
                .route("/readyz", web::get().to(health::readyz))
                .route("/metrics", web::get().to(metrics::show))
                // First after the probes: routes are tried in order, each
                // pattern a regex, and the door's scans are the busiest path.
                .service(
                    web::scope("/api/v1/events/{event}")
                        .route("/checkins", web::post().to(api::checkins::create))
                        .route("/checkins/undo", web::post().to(api::checkins::undo))
                        .route("/door", web::get().to(api::checkins::setup))
                        .route("/participants", web::get().to(api::checkins::search))
                        .route("/stats", web::get().to(live::stats))
                        .route("/live/ticket", web::post().to(live::ticket))
                        .route(
                            "/participants.csv",
                            web::get().to(api::exports::participants_csv),
                        )
                        .route(
                            "/attendance.csv",
                            web::get().to(api::exports::attendance_csv),
                        )
                        .route("/countries.csv", web::get().to(api::exports::countries_csv))
                        .route("/sessions.csv", web::get().to(api::exports::sessions_csv)),
                )
                .route("/static/{path:.*}", web::get().to(static_files::serve))
                .route("/", web::get().to(pages::index))
                .route("/events/{slug}", web::get().to(registration::show))
                .route(
                    "/events/{slug}/register",
                    web::post().to(registration::submit),
                )
                .route("/r/{token}", web::get().to(personal::show))
                .route("/r/{token}/qr.svg", web::get().to(personal::qr_svg))
                .route("/r/{token}/qr.png", web::get().to(personal::qr_png))
                .route("/r/{token}/calendar.ics", web::get().to(personal::calendar))
                .route("/r/{token}/cancel", web::get().to(personal::confirm_cancel))
                .route("/r/{token}/cancel", web::post().to(personal::cancel))
                .route("/r/{token}/erase", web::get().to(personal::confirm_erase))
                .route("/r/{token}/erase", web::post().to(personal::erase))
                .route("/r/{token}/join/{session}", web::get().to(online::join))
                .route("/r/{token}/watch/{session}", web::get().to(online::watch))
                .route(
                    "/ws/watch/{token}/{session}",
                    web::get().to(online::presence),
                )
                .route("/ws/events/{event}/live", web::get().to(live::socket))
                .route("/screen/{event}", web::get().to(live::hall_screen))
                .route("/scan/{event}", web::get().to(scan::staff_page))
                .route("/scan/{event}/device", web::get().to(scan::device_page))
                .service(
                    web::scope("/admin")
                        .route("", web::get().to(admin::events::index))
                        .route("/events", web::post().to(admin::events::create))
                        .route("/events/new", web::get().to(admin::events::new))
                        .route("/events/{event}", web::get().to(admin::events::show))
                        .route("/events/{event}/edit", web::get().to(admin::events::edit))
                        .route(
                            "/events/{event}/edit",
                            web::post().to(admin::events::update),
                        )
                        .route(
                            "/events/{event}/sessions",
                            web::post().to(admin::sessions::create),
                        )
                        .route(
                            "/events/{event}/sessions/new",
                            web::get().to(admin::sessions::new),
                        )
                        .route(
                            "/events/{event}/sessions/{id}",
                            web::get().to(admin::sessions::edit),
                        )
                        .route(
                            "/events/{event}/sessions/{id}",
                            web::post().to(admin::sessions::update),
                        )
                        .route(
                            "/events/{event}/participants",
                            web::get().to(admin::participants::list),
                        )
                        .route("/events/{event}/import", web::get().to(admin::import::form))
                        .route(
                            "/events/{event}/import",
                            web::post().to(admin::import::upload),
                        )
                        .route(
                            "/events/{event}/participants/{id}",
                            web::get().to(admin::participants::edit),
                        )
                        .route(
                            "/events/{event}/participants/{id}",
                            web::post().to(admin::participants::update),
                        )
                        .route(
                            "/events/{event}/participants/{id}/cancel",
                            web::post().to(admin::participants::cancel),
                        )
                        .route(
                            "/events/{event}/tokens",
                            web::post().to(admin::tokens::create),
                        )
                        .route(
                            "/events/{event}/purge",
                            web::post().to(admin::events::purge),
                        )
                        .route(
                            "/events/{event}/tokens/{id}/revoke",
                            web::post().to(admin::tokens::revoke),
                        )
                        .route("/events/{event}/live", web::get().to(live::dashboard))
                        .route("/events/{event}/report", web::get().to(report::show))
                        .route("/events/{event}/checkins", web::get().to(admin::log::show))
                        .route(
                            "/events/{event}/checkins/undo",
                            web::post().to(admin::log::undo),
                        ),
                )
                .route("/login", web::get().to(auth::login_page))
                .route("/login", web::post().to(auth::login))
                .route("/logout", web::post().to(auth::logout))
                .default_service(web::to(pages::not_found)),
        );
}

/// Renders a page with the given status.
pub fn render(
    status: actix_web::http::StatusCode,
    page: &impl Template,
) -> Result<HttpResponse, AppError> {
    let body = page.render().map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Renders a page holding a form, setting the CSRF cookie if the visitor
/// had none.
pub fn render_with_csrf(
    status: actix_web::http::StatusCode,
    page: &impl Template,
    csrf: &csrf::CsrfToken,
) -> Result<HttpResponse, AppError> {
    let mut response = render(status, page)?;
    if let Some(cookie) = csrf.cookie() {
        response.add_cookie(&cookie).map_err(|e| {
            AppError::Unexpected(anyhow::anyhow!("cannot set the CSRF cookie: {e}"))
        })?;
    }
    Ok(response)
}
