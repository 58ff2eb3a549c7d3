//! Organisers' pages under /admin: events and sessions, participants,
//! device tokens, and the check-in log. Every handler names its permission.

pub mod events;
pub mod import;
pub mod log;
pub mod participants;
pub mod sessions;
pub mod tokens;

use super::error::AppError;
use super::AppState;
use crate::auth::{Caller, Permission};
use crate::db::{self, events::Event};
use actix_web::http::header;
use actix_web::HttpResponse;

/// The event named in the path, if the caller may do `what` there.
pub async fn event_for(
    state: &AppState,
    caller: &Caller,
    slug: String,
    what: Permission,
) -> Result<Event, AppError> {
    let event = db::run(&state.pool, move |conn| db::events::find_event(conn, &slug))
        .await?
        .ok_or(AppError::NotFound)?;
    if !caller.may(what, Some(event.id)) {
        return Err(AppError::Forbidden(
            "Your account may not do this for this event.".into(),
        ));
    }
    Ok(event)
}

pub fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Reads a posted form; a body that isn't one is a 400.
pub fn read_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_html_form::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read.".into()))
}

/// Refuses a form whose CSRF token doesn't match; callers re-render with
/// what was typed.
pub fn csrf_ok(state: &AppState, req: &actix_web::HttpRequest, token: &str) -> bool {
    state.csrf.verify(req, token)
}

pub const EXPIRED: &str =
    "This form had expired, so nothing was saved. Please check and send it again.";

/// One text-like input of an admin form, so templates can loop over them.
pub struct Input<'a> {
    pub name: &'static str,
    pub label: &'static str,
    pub value: &'a str,
    pub kind: &'static str,
}

pub fn input<'a>(
    name: &'static str,
    label: &'static str,
    value: &'a str,
    kind: &'static str,
) -> Input<'a> {
    Input {
        name,
        label,
        value,
        kind,
    }
}
