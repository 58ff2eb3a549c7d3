//! Creating and editing an event's sessions.

use super::{csrf_ok, event_for, input, read_form, see_other, Input, EXPIRED};
use crate::auth::Permission;
use crate::db::{self, events::Event};
use crate::domain::programme::{local_input_value, SessionForm};
use crate::domain::{FieldErrors, SessionFormat};
use crate::timefmt;
use crate::web::auth::Staff;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::{render_with_csrf, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "admin/session_form.html")]
struct SessionFormPage<'a> {
    inputs: Vec<Input<'a>>,
    event_slug: &'a str,
    event_title: &'a str,
    timezone: &'a str,
    action: String,
    heading: &'a str,
    form: &'a SessionForm,
    formats: &'static [SessionFormat],
    errors: FieldErrors,
    notice: Option<&'a str>,
    csrf_token: String,
}

fn page(
    status: StatusCode,
    event: &Event,
    session_id: Option<i32>,
    form: &SessionForm,
    errors: FieldErrors,
    notice: Option<&str>,
    csrf: &CsrfToken,
) -> Result<HttpResponse, AppError> {
    let (action, heading) = match session_id {
        Some(id) => (
            format!("/admin/events/{}/sessions/{id}", event.slug),
            "Edit session",
        ),
        None => (
            format!("/admin/events/{}/sessions", event.slug),
            "New session",
        ),
    };
    let inputs = vec![
        input("title", "Title", &form.title, "text"),
        input("slug", "Slug", &form.slug, "text"),
        input("room", "Room", &form.room, "text"),
        input("starts_at", "Starts", &form.starts_at, "datetime-local"),
        input("ends_at", "Ends", &form.ends_at, "datetime-local"),
        input(
            "capacity_offline",
            "In-person seats (empty: no limit)",
            &form.capacity_offline,
            "number",
        ),
        input(
            "capacity_online",
            "Online places (empty: no limit)",
            &form.capacity_online,
            "number",
        ),
        input(
            "stream_url",
            "Stream or meeting URL",
            &form.stream_url,
            "url",
        ),
    ];
    let page = SessionFormPage {
        inputs,
        event_slug: &event.slug,
        event_title: &event.title,
        timezone: &event.timezone,
        action,
        heading,
        form,
        formats: SessionFormat::ALL,
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
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let tz = timefmt::zone(&event.timezone);
    let form = SessionForm {
        starts_at: local_input_value(event.starts_at, tz),
        ends_at: local_input_value(event.starts_at + 3_600_000, tz),
        format: "hybrid".into(),
        join_opens_minutes: "15".into(),
        join_closes_minutes: "0".into(),
        online_min_minutes: "0".into(),
        ..Default::default()
    };
    page(
        StatusCode::OK,
        &event,
        None,
        &form,
        FieldErrors::default(),
        None,
        &state.csrf.issue(&req),
    )
}

pub async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    path: web::Path<(String, i32)>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let event = event_for(&state, &caller, slug, Permission::ManageEvent).await?;
    let event_id = event.id;
    let session = db::run(&state.pool, move |conn| {
        db::events::session_by_id(conn, event_id, id)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    let tz = timefmt::zone(&event.timezone);
    let form = SessionForm {
        starts_at: local_input_value(session.starts_at, tz),
        ends_at: local_input_value(session.ends_at, tz),
        capacity_offline: session
            .capacity_offline
            .map(|n| n.to_string())
            .unwrap_or_default(),
        capacity_online: session
            .capacity_online
            .map(|n| n.to_string())
            .unwrap_or_default(),
        stream_url: session.stream_url.clone().unwrap_or_default(),
        members_only: session.members_only.then(|| "yes".to_string()),
        join_opens_minutes: session.join_opens_minutes.to_string(),
        join_closes_minutes: session.join_closes_minutes.to_string(),
        online_min_minutes: session.online_min_minutes.to_string(),
        format: session.format,
        slug: session.slug,
        title: session.title,
        description: session.description,
        room: session.room,
        csrf_token: String::new(),
    };
    page(
        StatusCode::OK,
        &event,
        Some(id),
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
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    save(state, req, event, None, body).await
}

pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    path: web::Path<(String, i32)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let event = event_for(&state, &caller, slug, Permission::ManageEvent).await?;
    save(state, req, event, Some(id), body).await
}

async fn save(
    state: web::Data<AppState>,
    req: HttpRequest,
    event: Event,
    id: Option<i32>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: SessionForm = read_form(&body)?;
    let csrf = state.csrf.issue(&req);
    if !csrf_ok(&state, &req, &form.csrf_token) {
        return page(
            StatusCode::FORBIDDEN,
            &event,
            id,
            &form,
            FieldErrors::default(),
            Some(EXPIRED),
            &csrf,
        );
    }
    let valid = match form.parse(timefmt::zone(&event.timezone)) {
        Ok(valid) => valid,
        Err(errors) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &event,
                id,
                &form,
                errors,
                None,
                &csrf,
            )
        }
    };
    let event_id = event.id;
    let saved = db::run(&state.pool, move |conn| {
        db::events::save_session(conn, event_id, id, &valid)
    })
    .await?;
    match saved {
        Ok(_) => {
            state.live.changed(event.id);
            Ok(see_other(format!("/admin/events/{}", event.slug)))
        }
        Err(_) => {
            let mut errors = FieldErrors::default();
            errors.add(
                "slug",
                "Another session of this event already uses this slug.",
            );
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &event,
                id,
                &form,
                errors,
                None,
                &csrf,
            )
        }
    }
}
