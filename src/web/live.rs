//! Live numbers over HTTP: the stats API, the dashboard page (server-rendered
//! from the same stats, then kept live by static/live.js), the hall-screen
//! shell, tickets, and the WebSocket upgrade.

use super::api::ApiError;
use super::auth::{ApiCaller, Staff};
use super::error::AppError;
use super::{render, AppState};
use crate::auth::{Caller, Permission};
use crate::db::events::Event;
use crate::db::stats::EventStats;
use crate::db::{self, DbConnection, DbError};
use crate::timefmt;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};

/// The event and its numbers, as every live view shows them.
fn stats_of(conn: &mut DbConnection, slug: &str) -> Result<Option<(Event, EventStats)>, DbError> {
    let Some(event) = db::events::find_event(conn, slug)? else {
        return Ok(None);
    };
    let stats = db::stats::event_stats(conn, event.id, &event.slug, db::now_ms())?;
    Ok(Some((event, stats)))
}

async fn event_named(state: &AppState, slug: String) -> Result<Option<Event>, DbError> {
    db::run(&state.pool, move |conn| db::events::find_event(conn, &slug)).await
}

fn may_watch(caller: &Caller, event: &Event) -> Result<(), ApiError> {
    if caller.may(Permission::ViewLive, Some(event.id)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this account or token may not see this event's numbers".into(),
        ))
    }
}

/// `GET /api/v1/events/{event}/stats`
pub async fn stats(
    state: web::Data<AppState>,
    ApiCaller(caller): ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug.into_inner();
    let found = db::run(&state.pool, move |conn| stats_of(conn, &slug)).await?;
    let (event, stats) = found.ok_or_else(|| ApiError::NotFound("no such event".into()))?;
    may_watch(&caller, &event)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(stats))
}

#[derive(Serialize)]
struct TicketAnswer {
    ticket: String,
    expires_in_ms: i64,
}

/// `POST /api/v1/events/{event}/live/ticket`: for a browser that holds a
/// device token and must open the WebSocket without headers.
pub async fn ticket(
    state: web::Data<AppState>,
    ApiCaller(caller): ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event = event_named(&state, slug.into_inner())
        .await?
        .ok_or_else(|| ApiError::NotFound("no such event".into()))?;
    may_watch(&caller, &event)?;
    let ticket = state.tickets.issue(event.id, db::now_ms());
    Ok(HttpResponse::Ok().json(TicketAnswer {
        ticket,
        expires_in_ms: crate::auth::tickets::LIFETIME_MS,
    }))
}

#[derive(Deserialize)]
pub struct SocketQuery {
    ticket: Option<String>,
}

/// A browser sends cookies with a cross-site WebSocket handshake too, so a
/// cookie-authenticated upgrade must come from one of our own pages.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true; // not a browser
    };
    let host = req.connection_info().host().to_string();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// `GET /ws/events/{event}/live`: refused before the upgrade unless the
/// caller may watch this event.
pub async fn socket(
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
    slug: web::Path<String>,
    query: web::Query<SocketQuery>,
    caller: Option<ApiCaller>,
) -> Result<HttpResponse, ApiError> {
    let event = event_named(&state, slug.into_inner())
        .await?
        .ok_or_else(|| ApiError::NotFound("no such event".into()))?;
    match (&query.ticket, caller) {
        (Some(ticket), _) => {
            if !state.tickets.admits(ticket, event.id, db::now_ms()) {
                return Err(ApiError::Unauthorized);
            }
        }
        (None, Some(ApiCaller(caller))) => {
            may_watch(&caller, &event)?;
            if caller.is_staff() && !same_origin(&req) {
                return Err(ApiError::Forbidden("cross-site WebSocket refused".into()));
            }
        }
        (None, None) => return Err(ApiError::Unauthorized),
    }
    state
        .live
        .websocket(&req, stream, event.id, event.slug)
        .map_err(|e| ApiError::BadRequest {
            message: format!("not a WebSocket handshake: {e}"),
            field: None,
        })
}

pub struct CountryRow {
    pub code: String,
    pub name: String,
    pub registered: i64,
    pub attended_offline: i64,
    pub attended_online: i64,
    /// Bar length, 0–100, relative to the largest country.
    pub bar: i64,
}

pub struct SessionRow {
    pub slug: String,
    pub title: String,
    pub in_person: i64,
    pub online: i64,
    pub watching_now: i64,
    pub capacity: String,
    /// In-person fill against capacity, 0–100.
    pub fill: i64,
}

pub struct MinuteBar {
    pub x: i64,
    pub height: i64,
    pub label: String,
}

pub struct RecentRow {
    pub time: String,
    pub name: String,
    pub country: String,
    pub session: String,
    pub door: String,
}

#[derive(Template)]
#[template(path = "live/dashboard.html")]
struct DashboardPage {
    event_slug: String,
    title: String,
    timezone: String,
    /// "session": a signed-in organiser; "token": a hall screen's device token.
    auth_mode: &'static str,
    big_screen: bool,
    stats: Option<EventStats>,
    countries: Vec<CountryRow>,
    sessions: Vec<SessionRow>,
    minutes: Vec<MinuteBar>,
    recent: Vec<RecentRow>,
}

impl DashboardPage {
    fn new(
        event: &Event,
        stats: Option<EventStats>,
        auth_mode: &'static str,
        big_screen: bool,
    ) -> Self {
        let tz = timefmt::zone(&event.timezone);
        let (countries, sessions, minutes, recent) = match &stats {
            Some(stats) => rows(stats, tz),
            None => Default::default(),
        };
        DashboardPage {
            event_slug: event.slug.clone(),
            title: event.title.clone(),
            timezone: event.timezone.clone(),
            auth_mode,
            big_screen,
            stats,
            countries,
            sessions,
            minutes,
            recent,
        }
    }
}

type Rows = (
    Vec<CountryRow>,
    Vec<SessionRow>,
    Vec<MinuteBar>,
    Vec<RecentRow>,
);

/// What the template draws; static/live.js draws the same from the JSON.
fn rows(stats: &EventStats, tz: chrono_tz::Tz) -> Rows {
    let widest = stats
        .by_country
        .iter()
        .map(|c| c.registered.max(c.attended_offline + c.attended_online))
        .max()
        .unwrap_or(0)
        .max(1);
    let countries = stats
        .by_country
        .iter()
        .map(|c| CountryRow {
            bar: (c.attended_offline + c.attended_online) * 100 / widest,
            code: c.code.clone(),
            name: c.name.clone(),
            registered: c.registered,
            attended_offline: c.attended_offline,
            attended_online: c.attended_online,
        })
        .collect();
    let sessions = stats
        .by_session
        .iter()
        .map(|s| SessionRow {
            fill: s
                .capacity_offline
                .filter(|c| *c > 0)
                .map_or(0, |c| (s.in_person * 100 / i64::from(c)).min(100)),
            capacity: s
                .capacity_offline
                .map_or("no limit".into(), |c| c.to_string()),
            slug: s.slug.clone(),
            title: s.title.clone(),
            in_person: s.in_person,
            online: s.online,
            watching_now: s.watching_now,
        })
        .collect();
    let peak = stats
        .arrivals_per_minute
        .iter()
        .map(|m| m.count)
        .max()
        .unwrap_or(0)
        .max(1);
    let minutes = stats
        .arrivals_per_minute
        .iter()
        .enumerate()
        .map(|(i, m)| MinuteBar {
            x: i as i64 * 10,
            height: m.count * 100 / peak,
            label: format!(
                "{} arrivals at {}",
                m.count,
                m.minute.get(11..16).unwrap_or("")
            ),
        })
        .collect();
    let recent = stats
        .recent
        .iter()
        .map(|r| RecentRow {
            time: chrono::DateTime::parse_from_rfc3339(&r.at)
                .map(|t| timefmt::clock(t.timestamp_millis(), tz))
                .unwrap_or_default(),
            name: r.name.clone(),
            country: r.country.clone(),
            session: r
                .session_title
                .clone()
                .unwrap_or_else(|| "Event entry".into()),
            door: r.door.clone().unwrap_or_else(|| {
                if r.mode == "online" {
                    "online".into()
                } else {
                    String::new()
                }
            }),
        })
        .collect();
    (countries, sessions, minutes, recent)
}

#[derive(Deserialize)]
pub struct ScreenQuery {
    screen: Option<String>,
}

/// `/admin/events/{event}/live`: correct on first paint, then live.
pub async fn dashboard(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    slug: web::Path<String>,
    query: web::Query<ScreenQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let (event, stats) = db::run(&state.pool, move |conn| stats_of(conn, &slug))
        .await?
        .ok_or(AppError::NotFound)?;
    if !caller.may(Permission::ViewLive, Some(event.id)) {
        return Err(AppError::Forbidden(
            "Your account may not see this event's numbers.".into(),
        ));
    }
    let big = query
        .screen
        .as_deref()
        .is_some_and(|v| !v.is_empty() && v != "0");
    render(
        StatusCode::OK,
        &DashboardPage::new(&event, Some(stats), "session", big),
    )
}

/// `/screen/{event}#token=…`: a hall screen signed in by a dashboard token.
/// The shell carries no numbers; the script fetches them with the token.
pub async fn hall_screen(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let event = event_named(&state, slug.into_inner())
        .await?
        .ok_or(AppError::NotFound)?;
    render(
        StatusCode::OK,
        &DashboardPage::new(&event, None, "token", true),
    )
}
