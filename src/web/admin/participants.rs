//! Participants of an event: the list with search, corrections, cancellation.

use super::{csrf_ok, event_for, input, read_form, see_other, Input, EXPIRED};
use crate::auth::Permission;
use crate::db::participants::{EditOutcome, Participant};
use crate::db::{self, events::Event};
use crate::domain::{AttendanceMode, Category, Country, FieldErrors, PersonDetails, PersonFields};
use crate::timefmt;
use crate::web::auth::Staff;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::{render_with_csrf, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

const PAGE_SIZE: i64 = 200;

pub struct Row {
    pub id: i32,
    pub name: String,
    pub email: String,
    pub affiliation: String,
    pub country: String,
    pub mode: &'static str,
    pub category: &'static str,
    pub cancelled: bool,
    pub registered: String,
}

#[derive(Template)]
#[template(path = "admin/participants.html")]
struct ListPage {
    event_slug: String,
    event_title: String,
    q: String,
    total: i64,
    rows: Vec<Row>,
    limited: bool,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    slug: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let q: String = query
        .into_inner()
        .q
        .unwrap_or_default()
        .chars()
        .take(100)
        .collect();
    let (event_id, search) = (event.id, q.clone());
    let (found, total) = db::run(&state.pool, move |conn| {
        Ok((
            db::participants::list(conn, event_id, &search, PAGE_SIZE)?,
            db::participants::count_in_event(conn, event_id)?,
        ))
    })
    .await?;
    let tz = timefmt::zone(&event.timezone);
    let limited = found.len() as i64 == PAGE_SIZE;
    let rows = found
        .into_iter()
        .map(|p| Row {
            id: p.id,
            mode: AttendanceMode::parse(&p.mode).map_or("?", AttendanceMode::label),
            category: Category::parse(&p.category).map_or("?", Category::label),
            cancelled: p.is_cancelled(),
            registered: timefmt::day(p.created_at, tz),
            name: p.full_name,
            email: p.email,
            affiliation: p.affiliation,
            country: p.country,
        })
        .collect();
    let page = ListPage {
        event_slug: event.slug,
        event_title: event.title,
        q,
        total,
        rows,
        limited,
    };
    crate::web::render(StatusCode::OK, &page)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    full_name: String,
    email: String,
    affiliation: String,
    country: String,
    mode: String,
    category: String,
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "admin/participant_form.html")]
struct EditPage<'a> {
    inputs: Vec<Input<'a>>,
    event_slug: &'a str,
    id: i32,
    cancelled: bool,
    form: &'a EditForm,
    errors: FieldErrors,
    notice: Option<&'a str>,
    countries: &'static [Country],
    modes: &'static [AttendanceMode],
    categories: &'static [Category],
    csrf_token: String,
}

fn edit_page(
    status: StatusCode,
    event: &Event,
    p: &Participant,
    form: &EditForm,
    errors: FieldErrors,
    notice: Option<&str>,
    csrf: &CsrfToken,
) -> Result<HttpResponse, AppError> {
    let inputs = vec![
        input("full_name", "Full name", &form.full_name, "text"),
        input("email", "Email", &form.email, "email"),
        input("affiliation", "Affiliation", &form.affiliation, "text"),
    ];
    let page = EditPage {
        inputs,
        event_slug: &event.slug,
        id: p.id,
        cancelled: p.is_cancelled(),
        form,
        errors,
        notice,
        countries: Country::all(),
        modes: AttendanceMode::ALL,
        categories: Category::ALL,
        csrf_token: csrf.token.clone(),
    };
    render_with_csrf(status, &page, csrf)
}

async fn participant(state: &AppState, event: &Event, id: i32) -> Result<Participant, AppError> {
    let event_id = event.id;
    db::run(&state.pool, move |conn| {
        db::participants::find_in_event(conn, event_id, id)
    })
    .await?
    .ok_or(AppError::NotFound)
}

pub async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    path: web::Path<(String, i32)>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let event = event_for(&state, &caller, slug, Permission::ManageEvent).await?;
    let p = participant(&state, &event, id).await?;
    let form = EditForm {
        full_name: p.full_name.clone(),
        email: p.email.clone(),
        affiliation: p.affiliation.clone(),
        country: p.country.clone(),
        mode: p.mode.clone(),
        category: p.category.clone(),
        csrf_token: String::new(),
    };
    edit_page(
        StatusCode::OK,
        &event,
        &p,
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
    path: web::Path<(String, i32)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let event = event_for(&state, &caller, slug, Permission::ManageEvent).await?;
    let p = participant(&state, &event, id).await?;
    let form: EditForm = read_form(&body)?;
    let csrf = state.csrf.issue(&req);
    if !csrf_ok(&state, &req, &form.csrf_token) {
        return edit_page(
            StatusCode::FORBIDDEN,
            &event,
            &p,
            &form,
            FieldErrors::default(),
            Some(EXPIRED),
            &csrf,
        );
    }
    let mut errors = FieldErrors::default();
    let fields = PersonFields {
        full_name: &form.full_name,
        email: &form.email,
        affiliation: &form.affiliation,
        country: &form.country,
        mode: &form.mode,
        category: &form.category,
    };
    let Some(details) = PersonDetails::parse(&fields, &mut errors) else {
        return edit_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &event,
            &p,
            &form,
            errors,
            None,
            &csrf,
        );
    };
    let outcome = db::run(&state.pool, move |conn| {
        db::participants::update_details(conn, id, &details)
    })
    .await?;
    match outcome {
        EditOutcome::Saved => {
            state.live.changed(event.id);
            Ok(see_other(format!(
                "/admin/events/{}/participants",
                event.slug
            )))
        }
        EditOutcome::EmailTaken => {
            errors.add(
                "email",
                "Another live registration of this event uses this address.",
            );
            edit_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &event,
                &p,
                &form,
                errors,
                None,
                &csrf,
            )
        }
        EditOutcome::SeatImpossible(title) => {
            errors.add(
                "mode",
                format!(
                    "“{title}” takes place in person only; this person can't follow it online."
                ),
            );
            edit_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &event,
                &p,
                &form,
                errors,
                None,
                &csrf,
            )
        }
    }
}

pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    path: web::Path<(String, i32)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let event = event_for(&state, &caller, slug, Permission::ManageEvent).await?;
    if !state.csrf.verify_form(&req, &body) {
        return Err(AppError::Forbidden(
            "This form had expired; nothing changed. Go back, reload and try again.".into(),
        ));
    }
    let event_id = event.id;
    let cancelled = db::run(&state.pool, move |conn| {
        db::participants::cancel_by_id(conn, event_id, id, db::now_ms())
    })
    .await?;
    if cancelled {
        state.live.changed(event_id);
    }
    Ok(see_other(format!(
        "/admin/events/{}/participants",
        event.slug
    )))
}
