//! A registrant's personal page `/r/{token}`: their ticket with the QR code,
//! programme, calendar file, and cancellation.

use super::error::AppError;
use super::{render, render_with_csrf, AppState};
use crate::db;
use crate::db::participants::PersonalView;
use crate::domain::{AttendanceMode, Category, CheckinCode, Country, PageToken};
use crate::qr;
use crate::timefmt as format;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use icalendar::{Calendar, Component, EventLike};

async fn load(state: &AppState, raw_token: &str) -> Result<(PageToken, PersonalView), AppError> {
    let token = PageToken::parse(raw_token).map_err(|_| AppError::NotFound)?;
    let lookup = token.clone();
    let view = db::run(&state.pool, move |conn| {
        db::participants::find_by_page_token(conn, &lookup)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((token, view))
}

/// The check-in code of a live registration; a cancelled one has none.
fn live_code(view: &PersonalView) -> Result<CheckinCode, AppError> {
    if view.participant.is_cancelled() {
        return Err(AppError::NotFound);
    }
    CheckinCode::parse(&view.participant.checkin_code)
        .map_err(|_| AppError::Unexpected(anyhow::anyhow!("stored check-in code is malformed")))
}

pub struct PersonalSession {
    pub slug: String,
    /// Has a stream this person may join (online or hybrid, not cancelled).
    pub joinable: bool,
    pub title: String,
    pub time: String,
    pub room: String,
    pub seat: &'static str,
}

#[derive(Template)]
#[template(path = "personal/page.html")]
struct PersonalPage {
    token: String,
    event_title: String,
    event_slug: String,
    venue: String,
    timezone: String,
    name: String,
    affiliation: String,
    country_code: String,
    country_name: String,
    mode: &'static str,
    category: &'static str,
    cancelled_on: Option<String>,
    sessions: Vec<PersonalSession>,
    qr_svg: String,
}

pub async fn show(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (token, view) = load(&state, &token).await?;
    let p = &view.participant;
    let tz = format::zone(&view.event.timezone);
    let qr_svg = match live_code(&view) {
        Ok(code) => qr::svg_inline(&code).map_err(|e| AppError::Unexpected(e.into()))?,
        Err(_) => String::new(),
    };
    let page = PersonalPage {
        token: token.as_str().to_string(),
        event_title: view.event.title.clone(),
        event_slug: view.event.slug.clone(),
        venue: view.event.venue.clone(),
        timezone: view.event.timezone.clone(),
        name: p.full_name.clone(),
        affiliation: p.affiliation.clone(),
        country_name: Country::name_of(&p.country),
        country_code: p.country.clone(),
        mode: AttendanceMode::parse(&p.mode).map_or("", AttendanceMode::label),
        category: Category::parse(&p.category).map_or("", Category::label),
        cancelled_on: p
            .cancelled_at
            .filter(|_| p.is_cancelled())
            .map(|at| format::day(at, tz)),
        sessions: view
            .sessions
            .iter()
            .map(|(s, seat)| PersonalSession {
                slug: s.slug.clone(),
                joinable: s.is_online() && !p.is_cancelled(),
                title: s.title.clone(),
                time: format::span(s.starts_at, s.ends_at, tz),
                room: s.room.clone(),
                seat: seat.label(),
            })
            .collect(),
        qr_svg,
    };
    let mut response = render(StatusCode::OK, &page)?;
    // The page is a bearer secret: keep it out of shared caches.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

pub async fn qr_svg(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (_, view) = load(&state, &token).await?;
    let svg = qr::svg_document(&live_code(&view)?).map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(svg))
}

pub async fn qr_png(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (_, view) = load(&state, &token).await?;
    let png = qr::png(&live_code(&view)?, 10).map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(png))
}

/// One calendar entry per chosen session, in UTC so every calendar app
/// places it right.
pub async fn calendar(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (_, view) = load(&state, &token).await?;
    let mut calendar = Calendar::new();
    calendar.name(&view.event.title);
    for (session, _) in &view.sessions {
        let location = [session.room.as_str(), view.event.venue.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        calendar.push(
            icalendar::Event::new()
                .uid(&format!("{}-{}@rollcall", view.event.slug, session.slug))
                .summary(&format!("{} — {}", session.title, view.event.title))
                .description(&session.description)
                .location(&location)
                .starts(format::utc(session.starts_at))
                .ends(format::utc(session.ends_at))
                .done(),
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.ics\"", view.event.slug),
        ))
        .body(calendar.done().to_string()))
}

#[derive(Template)]
#[template(path = "personal/cancel.html")]
struct CancelPage {
    token: String,
    event_title: String,
    name: String,
    csrf_token: String,
    notice: Option<&'static str>,
}

pub async fn confirm_cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (token, view) = load(&state, &token).await?;
    if view.participant.is_cancelled() {
        return Ok(see_other(&token));
    }
    let csrf = state.csrf.issue(&req);
    let page = CancelPage {
        token: token.as_str().to_string(),
        event_title: view.event.title,
        name: view.participant.full_name,
        csrf_token: csrf.token.clone(),
        notice: None,
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (token, view) = load(&state, &token).await?;
    if !state.csrf.verify_form(&req, &body) {
        let csrf = state.csrf.issue(&req);
        let page = CancelPage {
            token: token.as_str().to_string(),
            event_title: view.event.title,
            name: view.participant.full_name,
            csrf_token: csrf.token.clone(),
            notice: Some(
                "This form had expired, so nothing changed. Press the button again to cancel.",
            ),
        };
        return render_with_csrf(StatusCode::FORBIDDEN, &page, &csrf);
    }
    let now = db::now_ms();
    let cancel_token = token.clone();
    let cancelled = db::run(&state.pool, move |conn| {
        db::participants::cancel(conn, &cancel_token, now)
    })
    .await?;
    if let Some(event_id) = cancelled {
        tracing::info!(
            participant_id = view.participant.id,
            "registration cancelled"
        );
        state.live.changed(event_id);
    }
    Ok(see_other(&token))
}

#[derive(Template)]
#[template(path = "personal/erase.html")]
struct ErasePage {
    token: String,
    event_title: String,
    name: String,
    event_over: bool,
    csrf_token: String,
    notice: Option<&'static str>,
    done: bool,
}

impl ErasePage {
    fn asking(token: &PageToken, view: PersonalView, csrf_token: String) -> Self {
        Self {
            token: token.as_str().to_string(),
            event_over: view.event.ends_at <= db::now_ms(),
            event_title: view.event.title,
            name: view.participant.full_name,
            csrf_token,
            notice: None,
            done: false,
        }
    }
}

pub async fn confirm_erase(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (token, view) = load(&state, &token).await?;
    let csrf = state.csrf.issue(&req);
    let page = ErasePage::asking(&token, view, csrf.token.clone());
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

/// The registrant erases their personal data (see db::privacy).
pub async fn erase(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (token, view) = load(&state, &token).await?;
    let csrf = state.csrf.issue(&req);
    if !state.csrf.verify_form(&req, &body) {
        let mut page = ErasePage::asking(&token, view, csrf.token.clone());
        page.notice = Some("This form had expired, so nothing changed. Press the button again.");
        return render_with_csrf(StatusCode::FORBIDDEN, &page, &csrf);
    }
    let participant_id = view.participant.id;
    let mut page = ErasePage::asking(&token, view, csrf.token.clone());
    let erase_token = token.clone();
    let erased = db::run(&state.pool, move |conn| {
        db::privacy::erase_by_page_token(conn, &erase_token, db::now_ms())
    })
    .await?;
    if let Some(event_id) = erased {
        tracing::info!(participant_id, "personal data erased by the registrant");
        state.live.changed(event_id);
    }
    page.done = true;
    page.token.clear();
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

fn see_other(token: &PageToken) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/r/{}", token.as_str())))
        .finish()
}
