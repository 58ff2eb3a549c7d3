//! /admin: the event list, creating and editing events, an event's overview.

use super::{csrf_ok, event_for, input, read_form, see_other, Input, EXPIRED};
use crate::auth::Permission;
use crate::db::events::AgendaSession;
use crate::db::{self, tokens::DeviceToken};
use crate::domain::programme::{local_input_value, EventForm};
use crate::domain::{FieldErrors, TokenRole};
use crate::timefmt;
use crate::web::auth::Staff;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::{render_with_csrf, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

pub struct EventRow {
    pub slug: String,
    pub title: String,
    pub dates: String,
    pub can_manage: bool,
}

#[derive(Template)]
#[template(path = "admin/index.html")]
struct IndexPage {
    events: Vec<EventRow>,
    can_create: bool,
    csrf_token: String,
}

pub async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
) -> Result<HttpResponse, AppError> {
    let all = db::run(&state.pool, db::events::list_events).await?;
    let events = all
        .into_iter()
        .filter(|e| caller.may(Permission::Scan, Some(e.id)))
        .map(|e| EventRow {
            dates: timefmt::day_range(e.starts_at, e.ends_at, timefmt::zone(&e.timezone)),
            can_manage: caller.may(Permission::ManageEvent, Some(e.id)),
            slug: e.slug,
            title: e.title,
        })
        .collect();
    let csrf = state.csrf.issue(&req);
    let page = IndexPage {
        events,
        can_create: caller.may(Permission::ManageEvent, None),
        csrf_token: csrf.token.clone(),
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

#[derive(Template)]
#[template(path = "admin/event_form.html")]
struct EventFormPage<'a> {
    inputs: Vec<Input<'a>>,
    action: String,
    heading: &'a str,
    form: &'a EventForm,
    errors: FieldErrors,
    notice: Option<&'a str>,
    csrf_token: String,
}

fn form_page(
    status: StatusCode,
    action: String,
    heading: &str,
    form: &EventForm,
    errors: FieldErrors,
    notice: Option<&str>,
    csrf: &CsrfToken,
) -> Result<HttpResponse, AppError> {
    let inputs = vec![
        input("title", "Title", &form.title, "text"),
        input("slug", "Slug (in links: /events/slug)", &form.slug, "text"),
        input("venue", "Venue", &form.venue, "text"),
        input(
            "timezone",
            "Time zone (IANA, e.g. Asia/Shanghai)",
            &form.timezone,
            "text",
        ),
        input(
            "starts_at",
            "Starts (local time)",
            &form.starts_at,
            "datetime-local",
        ),
        input(
            "ends_at",
            "Ends (local time)",
            &form.ends_at,
            "datetime-local",
        ),
        input(
            "checkin_grace_minutes",
            "Doors open this many minutes before a session and stay open after it",
            &form.checkin_grace_minutes,
            "number",
        ),
    ];
    let page = EventFormPage {
        inputs,
        action,
        heading,
        form,
        errors,
        notice,
        csrf_token: csrf.token.clone(),
    };
    render_with_csrf(status, &page, csrf)
}

pub async fn new(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
) -> Result<HttpResponse, AppError> {
    if !caller.may(Permission::ManageEvent, None) {
        return Err(AppError::Forbidden("Only organisers create events.".into()));
    }
    let form = EventForm {
        timezone: "UTC".into(),
        checkin_grace_minutes: "30".into(),
        ..Default::default()
    };
    form_page(
        StatusCode::OK,
        "/admin/events".into(),
        "New event",
        &form,
        FieldErrors::default(),
        None,
        &state.csrf.issue(&req),
    )
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    if !caller.may(Permission::ManageEvent, None) {
        return Err(AppError::Forbidden("Only organisers create events.".into()));
    }
    save(state, req, None, body).await
}

pub async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let tz = timefmt::zone(&event.timezone);
    let form = EventForm {
        starts_at: local_input_value(event.starts_at, tz),
        ends_at: local_input_value(event.ends_at, tz),
        checkin_grace_minutes: event.checkin_grace_minutes.to_string(),
        slug: event.slug.clone(),
        title: event.title,
        description: event.description,
        venue: event.venue,
        timezone: event.timezone,
        csrf_token: String::new(),
    };
    form_page(
        StatusCode::OK,
        format!("/admin/events/{}/edit", event.slug),
        "Edit event",
        &form,
        FieldErrors::default(),
        None,
        &state.csrf.issue(&req),
    )
}

pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    save(state, req, Some((event.id, event.slug)), body).await
}

async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    existing: Option<(i32, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: EventForm = read_form(&body)?;
    let csrf = state.csrf.issue(&req);
    let (action, heading) = match &existing {
        Some((_, slug)) => (format!("/admin/events/{slug}/edit"), "Edit event"),
        None => ("/admin/events".to_string(), "New event"),
    };
    if !csrf_ok(&state, &req, &form.csrf_token) {
        return form_page(
            StatusCode::FORBIDDEN,
            action,
            heading,
            &form,
            FieldErrors::default(),
            Some(EXPIRED),
            &csrf,
        );
    }
    let valid = match form.parse() {
        Ok(valid) => valid,
        Err(errors) => {
            return form_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                action,
                heading,
                &form,
                errors,
                None,
                &csrf,
            )
        }
    };
    let id = existing.map(|(id, _)| id);
    let slug = valid.slug.clone();
    let saved = db::run(&state.pool, move |conn| {
        db::events::save_event(conn, id, &valid, db::now_ms())
    })
    .await?;
    match saved {
        Ok(_) => Ok(see_other(format!("/admin/events/{slug}"))),
        Err(_) => {
            let mut errors = FieldErrors::default();
            errors.add("slug", "Another event already uses this slug.");
            form_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                action,
                heading,
                &form,
                errors,
                None,
                &csrf,
            )
        }
    }
}

pub struct SessionRow {
    pub id: i32,
    pub slug: String,
    pub title: String,
    pub time: String,
    pub format: &'static str,
    pub room: String,
    pub capacity: String,
    pub members_only: bool,
}

pub struct TokenRow {
    pub id: i32,
    pub label: String,
    pub role: &'static str,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "admin/event.html")]
struct EventPage {
    slug: String,
    title: String,
    dates: String,
    venue: String,
    timezone: String,
    grace: i32,
    participants: i64,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    token_roles: &'static [TokenRole],
    can_manage: bool,
    /// The event has ended: its personal data may be purged.
    ended: bool,
    /// Participants whose data is already erased.
    erased: i64,
    csrf_token: String,
}

fn session_row(s: AgendaSession, tz: chrono_tz::Tz) -> SessionRow {
    let capacity = match (s.capacity_offline, s.capacity_online) {
        (None, None) => "no limit".to_string(),
        (offline, online) => format!(
            "{} in person · {} online",
            offline.map_or("∞".to_string(), |n| n.to_string()),
            online.map_or("∞".to_string(), |n| n.to_string())
        ),
    };
    SessionRow {
        id: s.id,
        time: timefmt::span(s.starts_at, s.ends_at, tz),
        format: s.format().label(),
        slug: s.slug,
        title: s.title,
        room: s.room,
        capacity,
        members_only: s.members_only,
    }
}

fn token_row(t: DeviceToken, tz: chrono_tz::Tz) -> TokenRow {
    let when = |ms: i64| format!("{} {}", timefmt::day(ms, tz), timefmt::clock(ms, tz));
    TokenRow {
        id: t.id,
        role: TokenRole::parse(&t.role).map_or("?", TokenRole::label),
        created: when(t.created_at),
        last_used: t.last_used_at.map_or("never".to_string(), when),
        revoked: t.revoked_at.is_some(),
        label: t.label,
    }
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::Reports).await?;
    let event_id = event.id;
    let (sessions, tokens, participants, erased) = db::run(&state.pool, move |conn| {
        Ok((
            db::events::sessions_of(conn, event_id)?,
            db::tokens::list_for_event(conn, event_id)?,
            db::participants::count_in_event(conn, event_id)?,
            db::participants::count_erased(conn, event_id)?,
        ))
    })
    .await?;
    let tz = timefmt::zone(&event.timezone);
    let csrf = state.csrf.issue(&req);
    let page = EventPage {
        dates: timefmt::day_range(event.starts_at, event.ends_at, tz),
        sessions: sessions.into_iter().map(|s| session_row(s, tz)).collect(),
        tokens: tokens.into_iter().map(|t| token_row(t, tz)).collect(),
        token_roles: TokenRole::ALL,
        can_manage: caller.may(Permission::ManageEvent, Some(event.id)),
        participants,
        ended: event.ends_at <= db::now_ms(),
        erased,
        grace: event.checkin_grace_minutes,
        slug: event.slug,
        title: event.title,
        venue: event.venue,
        timezone: event.timezone,
        csrf_token: csrf.token.clone(),
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PurgeForm {
    confirm: Option<String>,
    csrf_token: String,
}

/// Erases the personal data of everyone registered for an event that has
/// ended (see db::privacy); the counts stay.
pub async fn purge(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let form: PurgeForm = read_form(&body)?;
    if !csrf_ok(&state, &req, &form.csrf_token) {
        return Err(AppError::Forbidden(EXPIRED.into()));
    }
    if event.ends_at > db::now_ms() {
        return Err(AppError::BadRequest(
            "Personal data can be purged once the event has ended.".into(),
        ));
    }
    if form.confirm.as_deref() != Some("yes") {
        return Err(AppError::BadRequest(
            "Tick the box to confirm: purging cannot be undone.".into(),
        ));
    }
    let event_id = event.id;
    let erased = db::run(&state.pool, move |conn| {
        db::privacy::purge_event(conn, event_id, db::now_ms())
    })
    .await?;
    tracing::info!(event_id, erased, "personal data purged");
    state.live.changed(event_id);
    Ok(see_other(format!("/admin/events/{}#privacy", event.slug)))
}
