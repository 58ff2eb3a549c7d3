//! The organisers' report: the totals to take home, drawn as server-side
//! SVG (no JavaScript needed to read or print it).

use super::auth::StaffOrDevice;
use super::error::AppError;
use super::{render, AppState};
use crate::auth::Permission;
use crate::db::stats::{EventStats, QuarterCount, QUARTER_MS};
use crate::db::{self, events::Event};
use crate::timefmt;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

pub struct Bar {
    pub label: String,
    pub value: i64,
    /// Width in the chart's 0–100 space.
    pub width: i64,
    pub y: i64,
}

pub struct SessionLine {
    pub title: String,
    pub registered_offline: i64,
    pub in_person: i64,
    pub capacity: String,
    pub use_percent: String,
    pub joined_online: i64,
    pub online: i64,
    pub minutes_watched: i64,
    pub min_minutes: i32,
}

pub struct Timeline {
    pub title: String,
    pub from: String,
    pub to: String,
    /// (x, height, tooltip) in a 0–100 × 0–40 space.
    pub bars: Vec<(i64, i64, String)>,
    pub bar_width: i64,
}

#[derive(Template)]
#[template(path = "report/report.html")]
struct ReportPage {
    slug: String,
    title: String,
    dates: String,
    venue: String,
    stats: EventStats,
    country_bars: Vec<Bar>,
    chart_height: i64,
    sessions: Vec<SessionLine>,
    timelines: Vec<Timeline>,
}

pub async fn show(
    state: web::Data<AppState>,
    StaffOrDevice(caller): StaffOrDevice,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let found = db::run(&state.pool, move |conn| {
        let Some(event) = db::events::find_event(conn, &slug)? else {
            return Ok(None);
        };
        // The timelines from the same moment as the totals.
        let (stats, quarters, sessions) = db::read_snapshot(conn, |conn| {
            let stats = db::stats::event_stats(conn, event.id, &event.slug, db::now_ms())?;
            let quarters = db::stats::arrivals_by_quarter(conn, event.id)?;
            let sessions = db::events::sessions_of(conn, event.id)?;
            Ok::<_, db::DbError>((stats, quarters, sessions))
        })?;
        Ok(Some((event, stats, quarters, sessions)))
    })
    .await?;
    let (event, stats, quarters, sessions) = found.ok_or(AppError::NotFound)?;
    if !caller.may(Permission::Reports, Some(event.id)) {
        return Err(AppError::Forbidden("Reports are for organisers.".into()));
    }
    let page = report(&event, stats, &quarters, &sessions);
    render(StatusCode::OK, &page)
}

fn report(
    event: &Event,
    stats: EventStats,
    quarters: &[QuarterCount],
    sessions: &[crate::db::events::AgendaSession],
) -> ReportPage {
    let tz = timefmt::zone(&event.timezone);
    let widest = stats
        .by_country
        .iter()
        .map(|c| c.registered.max(c.attended_offline + c.attended_online))
        .max()
        .unwrap_or(0)
        .max(1);
    let country_bars: Vec<Bar> = stats
        .by_country
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let attended = c.attended_offline + c.attended_online;
            // Long official names would run into the bars; the table has them whole.
            let label = if c.name.chars().count() > 16 {
                format!("{}…", c.name.chars().take(15).collect::<String>())
            } else {
                c.name.clone()
            };
            Bar {
                label,
                value: attended,
                width: attended * 100 / widest,
                y: i as i64 * 8,
            }
        })
        .collect();
    let session_lines = stats
        .by_session
        .iter()
        .map(|s| SessionLine {
            title: s.title.clone(),
            registered_offline: s.registered_offline,
            in_person: s.in_person,
            capacity: s.capacity_offline.map_or("—".into(), |c| c.to_string()),
            use_percent: s
                .capacity_offline
                .filter(|c| *c > 0)
                .map_or("—".into(), |c| {
                    format!("{}%", s.in_person * 100 / i64::from(c))
                }),
            joined_online: s.online_joined,
            online: s.online,
            minutes_watched: s.minutes_watched,
            min_minutes: s.online_min_minutes,
        })
        .collect();
    let mut timelines = Vec::new();
    let named: Vec<(Option<i32>, String)> = std::iter::once((None, "Event entry".to_string()))
        .chain(sessions.iter().map(|s| (Some(s.id), s.title.clone())))
        .collect();
    for (session_id, title) in named {
        let own: Vec<&QuarterCount> = quarters
            .iter()
            .filter(|q| q.session_id == session_id)
            .collect();
        let (Some(first), Some(last)) = (own.first(), own.last()) else {
            continue;
        };
        let span = (last.quarter - first.quarter + 1).max(1);
        let peak = own.iter().map(|q| q.n).max().unwrap_or(1).max(1);
        let bar_width = (100 / span).max(1);
        let bars = own
            .iter()
            .map(|q| {
                let at = q.quarter * QUARTER_MS;
                (
                    (q.quarter - first.quarter) * 100 / span,
                    q.n * 40 / peak,
                    format!("{} at {}", q.n, timefmt::clock(at, tz)),
                )
            })
            .collect();
        timelines.push(Timeline {
            title,
            from: timefmt::clock(first.quarter * QUARTER_MS, tz),
            to: timefmt::clock((last.quarter + 1) * QUARTER_MS, tz),
            bars,
            bar_width,
        });
    }
    ReportPage {
        slug: event.slug.clone(),
        title: event.title.clone(),
        dates: timefmt::day_range(event.starts_at, event.ends_at, tz),
        venue: event.venue.clone(),
        chart_height: (country_bars.len() as i64 * 8).max(8),
        country_bars,
        sessions: session_lines,
        timelines,
        stats,
    }
}
