//! The door staff's scan page. The page is a shell; everything it shows
//! comes from the check-in API, so a door phone signed in with a device
//! token and one signed in as staff run the same code.

use super::auth::Staff;
use super::error::AppError;
use super::{render_with_csrf, AppState};
use crate::auth::Permission;
use crate::db;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "scan/page.html")]
struct ScanPage {
    event_slug: String,
    event_title: String,
    /// "session" (staff cookie + CSRF header) or "token" (device token).
    auth_mode: &'static str,
    csrf_token: String,
    signed_in_as: Option<String>,
}

async fn event_title(state: &AppState, slug: String) -> Result<(i32, String), AppError> {
    let event = db::run(&state.pool, move |conn| db::events::find_event(conn, &slug))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((event.id, event.title))
}

/// For signed-in staff.
pub async fn staff_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let (event_id, event_title) = event_title(&state, slug.clone()).await?;
    if !caller.may(Permission::Scan, Some(event_id)) {
        return Err(AppError::Forbidden(
            "Your account may not scan at this event.".into(),
        ));
    }
    let csrf = state.csrf.issue(&req);
    let page = ScanPage {
        event_slug: slug,
        event_title,
        auth_mode: "session",
        csrf_token: csrf.token.clone(),
        signed_in_as: Some(caller.actor().trim_start_matches("user:").to_string()),
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

/// For door devices: opened from a link `/scan/{event}/device#token=…`; the
/// token stays in the browser (a URL fragment never reaches the server).
pub async fn device_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let slug = slug.into_inner();
    let (_, event_title) = event_title(&state, slug.clone()).await?;
    let csrf = state.csrf.issue(&req);
    let page = ScanPage {
        event_slug: slug,
        event_title,
        auth_mode: "token",
        csrf_token: String::new(),
        signed_in_as: None,
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}
