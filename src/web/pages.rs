//! Public pages that belong to no area: the event list and the 404 page.

use super::error::AppError;
use super::{render, AppState};
use crate::db;
use crate::timefmt as format;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

pub struct EventSummary {
    pub slug: String,
    pub title: String,
    pub venue: String,
    pub dates: String,
}

#[derive(Template)]
#[template(path = "events/index.html")]
struct IndexPage {
    events: Vec<EventSummary>,
}

pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let events = db::run(&state.pool, db::events::list_events).await?;
    let events = events
        .into_iter()
        .map(|e| {
            let tz = format::zone(&e.timezone);
            EventSummary {
                dates: format::day_range(e.starts_at, e.ends_at, tz),
                slug: e.slug,
                title: e.title,
                venue: e.venue,
            }
        })
        .collect();
    render(StatusCode::OK, &IndexPage { events })
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
