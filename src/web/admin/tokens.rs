//! Device tokens from the web: created here (shown once), revoked here.

use super::{csrf_ok, event_for, read_form, see_other};
use crate::auth::{tokens, Permission};
use crate::db;
use crate::domain::TokenRole;
use crate::web::auth::Staff;
use crate::web::error::AppError;
use crate::web::{render, AppState};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    label: String,
    role: String,
    sessions: Vec<String>,
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "admin/token_created.html")]
struct CreatedPage {
    event_slug: String,
    label: String,
    role: &'static str,
    token: String,
    device_link: String,
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let form: TokenForm = read_form(&body)?;
    if !csrf_ok(&state, &req, &form.csrf_token) {
        return Err(AppError::Forbidden(
            "This form had expired; no token was created. Go back, reload and try again.".into(),
        ));
    }
    let label = form.label.trim().to_string();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(AppError::BadRequest(
            "A token needs a label of 1 to 80 characters, e.g. “North entrance phone”.".into(),
        ));
    }
    let role = TokenRole::parse(&form.role).map_err(AppError::BadRequest)?;
    let token = tokens::generate();
    let digest = tokens::digest(&token)
        .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("generated token is malformed")))?;
    let (event_id, creator, stored_label) = (event.id, caller.actor(), label.clone());
    let slugs = form.sessions;
    db::run(&state.pool, move |conn| {
        let mut session_ids = Vec::new();
        for slug in &slugs {
            if let Some(session) = db::events::find_session(conn, event_id, slug)? {
                session_ids.push(session.id);
            }
        }
        db::tokens::create(
            conn,
            &db::tokens::NewToken {
                event_id,
                label: &stored_label,
                role: role.as_str(),
                token_hash: &digest,
                created_by: &creator,
                session_ids: &session_ids,
                now: db::now_ms(),
            },
        )
    })
    .await?;
    let device_link = match role {
        TokenRole::Door => format!(
            "{}/scan/{}/device#token={}",
            state.base_url, event.slug, token
        ),
        _ => String::new(),
    };
    let page = CreatedPage {
        event_slug: event.slug,
        label,
        role: role.label(),
        token,
        device_link,
    };
    let mut response = render(StatusCode::OK, &page)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    path: web::Path<(String, i32)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (slug, token_id) = path.into_inner();
    let event = event_for(&state, &caller, slug, Permission::ManageEvent).await?;
    if !state.csrf.verify_form(&req, &body) {
        return Err(AppError::Forbidden(
            "This form had expired; nothing changed. Go back, reload and try again.".into(),
        ));
    }
    let event_id = event.id;
    db::run(&state.pool, move |conn| {
        db::tokens::revoke(conn, event_id, token_id, db::now_ms())
    })
    .await?;
    Ok(see_other(format!("/admin/events/{}#tokens", event.slug)))
}
