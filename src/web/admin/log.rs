//! The check-in log: every scan and undo, newest first, with undo buttons.

use super::{csrf_ok, event_for, read_form, see_other};
use crate::auth::Permission;
use crate::db;
use crate::timefmt;
use crate::web::auth::Staff;
use crate::web::error::AppError;
use crate::web::{render_with_csrf, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

pub struct LogRow {
    pub time: String,
    pub action: String,
    pub outcome: String,
    pub reason: String,
    pub who: String,
    pub session: String,
    pub door: String,
    pub actor: String,
    /// (participant id, session slug or "") when this accepted scan can be undone.
    pub undo: Option<(i32, String)>,
}

#[derive(Template)]
#[template(path = "admin/log.html")]
struct LogPage {
    event_slug: String,
    event_title: String,
    rows: Vec<LogRow>,
    csrf_token: String,
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::Reports).await?;
    let event_id = event.id;
    let entries = db::run(&state.pool, move |conn| {
        db::checkins::recent_log(conn, event_id, 200)
    })
    .await?;
    let tz = timefmt::zone(&event.timezone);
    let rows = entries
        .into_iter()
        .map(|e| LogRow {
            time: format!("{} {}", timefmt::day(e.at, tz), timefmt::clock(e.at, tz)),
            undo: (e.outcome == "accepted")
                .then_some(e.participant_id)
                .flatten()
                .map(|id| (id, e.session_slug.clone().unwrap_or_default())),
            action: e.action,
            outcome: e.outcome,
            reason: e.reason.unwrap_or_default().replace('_', " "),
            who: e.participant_name.unwrap_or_else(|| "—".into()),
            session: e.session_slug.unwrap_or_else(|| "event entry".into()),
            door: e.door.unwrap_or_default(),
            actor: e.actor,
        })
        .collect();
    let csrf = state.csrf.issue(&req);
    let page = LogPage {
        event_slug: event.slug,
        event_title: event.title,
        rows,
        csrf_token: csrf.token.clone(),
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UndoForm {
    participant_id: i32,
    session: String,
    csrf_token: String,
}

pub async fn undo(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::Reports).await?;
    let form: UndoForm = read_form(&body)?;
    if !csrf_ok(&state, &req, &form.csrf_token) {
        return Err(AppError::Forbidden(
            "This form had expired; nothing was undone. Go back, reload and try again.".into(),
        ));
    }
    let actor = caller.actor();
    let (slug, event_id) = (event.slug.clone(), event.id);
    let undone = db::run(&state.pool, move |conn| {
        let session = match form.session.as_str() {
            "" => None,
            slug => match db::events::find_session(conn, event.id, slug)? {
                Some(session) => Some(session),
                None => return Ok(false),
            },
        };
        db::checkins::undo_checkin(
            conn,
            &event,
            form.participant_id,
            session.as_ref(),
            &actor,
            db::now_ms(),
        )
    })
    .await?;
    if undone {
        state.live.changed(event_id);
    }
    Ok(see_other(format!("/admin/events/{slug}/checkins")))
}
