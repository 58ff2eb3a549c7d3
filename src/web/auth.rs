//! Staff sign-in and the extractors that say who is calling: a staff session
//! (encrypted cookie) for pages, and additionally `Authorization: Bearer` device
//! tokens for the API.

use super::api::ApiError;
use super::error::AppError;
use super::{render_with_csrf, AppState};
use crate::auth::{password, tokens, Caller};
use crate::db;
use crate::domain::{StaffRole, TokenRole};
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

const SESSION_KEY: &str = "staff";
/// A sign-in lasts one long conference day.
pub const SESSION_HOURS: i64 = 12;

/// What the encrypted session cookie holds. The expiry is checked here, on
/// the server, not left to the browser's cookie expiry.
#[derive(Serialize, Deserialize)]
struct SignedIn {
    id: i32,
    username: String,
    role: String,
    event_id: Option<i32>,
    expires_at: i64,
}

fn staff_from_session(session: &Session) -> Option<Caller> {
    let signed_in: SignedIn = session.get(SESSION_KEY).ok().flatten()?;
    if signed_in.expires_at <= db::now_ms() {
        session.purge();
        return None;
    }
    Some(Caller::Staff {
        id: signed_in.id,
        username: signed_in.username,
        role: StaffRole::parse(&signed_in.role).ok()?,
        event_id: signed_in.event_id,
    })
}

/// A signed-in staff member, for HTML pages; anyone else is sent to /login.
pub struct Staff(pub Caller);

impl FromRequest for Staff {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = staff_from_session(&req.get_session())
            .map(Staff)
            .ok_or_else(|| {
                let next = req
                    .uri()
                    .path_and_query()
                    .map_or("/admin", |pq| pq.as_str());
                AppError::LoginRequired(next.to_string())
            });
        std::future::ready(found)
    }
}

/// Who claims to call the API, before any database lookup: a device token
/// (its SHA-256, checked where it is used) or a signed-in staff member.
/// Cookie-authenticated requests that change something must carry the page's
/// CSRF token in `X-CSRF-Token`.
pub enum Credentials {
    Device { token_hash: String },
    Staff(Caller),
}

impl Credentials {
    fn from_request_head(req: &HttpRequest) -> Result<Self, ApiError> {
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            let token_hash = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(tokens::digest)
                .ok_or(ApiError::Unauthorized)?;
            return Ok(Credentials::Device { token_hash });
        }
        let caller = staff_from_session(&req.get_session()).ok_or(ApiError::Unauthorized)?;
        if req.method() != actix_web::http::Method::GET {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
            let submitted = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !state.csrf.verify(req, submitted) {
                return Err(ApiError::Forbidden(
                    "missing or stale X-CSRF-Token header".into(),
                ));
            }
        }
        Ok(Credentials::Staff(caller))
    }
}

impl FromRequest for Credentials {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Credentials::from_request_head(req))
    }
}

/// Whoever calls the API, looked up: a device token (Bearer) or a signed-in
/// staff member.
pub struct ApiCaller(pub Caller);

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let credentials = Credentials::from_request_head(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            match credentials? {
                Credentials::Staff(caller) => Ok(ApiCaller(caller)),
                Credentials::Device { token_hash } => {
                    let state = state
                        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("no app state")))?;
                    device_caller(&state, token_hash).await.map(ApiCaller)
                }
            }
        })
    }
}

/// The live device token with this hash.
async fn device_caller(state: &AppState, digest: String) -> Result<Caller, ApiError> {
    let now = db::now_ms();
    let found = db::run(&state.pool, move |conn| {
        db::tokens::authenticate(conn, &digest, now)
    })
    .await?;
    let (token, session_ids) = found.ok_or(ApiError::Unauthorized)?;
    let role = TokenRole::parse(&token.role).map_err(|_| ApiError::Unauthorized)?;
    Ok(Caller::Device {
        token_id: token.id,
        label: token.label,
        role,
        event_id: token.event_id,
        session_ids,
    })
}

/// For pages an API client may fetch too (the report): a device token when
/// the request carries `Authorization: Bearer`, else a staff session, else
/// the sign-in page. Only reads: state-changing pages take [`Staff`].
pub struct StaffOrDevice(pub Caller);

impl FromRequest for StaffOrDevice {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get(header::AUTHORIZATION).is_none() {
            let staff = Staff::from_request(req, payload).into_inner();
            return Box::pin(async move { staff.map(|Staff(caller)| StaffOrDevice(caller)) });
        }
        let credentials = Credentials::from_request_head(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("no app state")))?;
            let Ok(Credentials::Device { token_hash }) = credentials else {
                return Err(AppError::Forbidden(
                    "That token is not valid (or was revoked).".into(),
                ));
            };
            device_caller(&state, token_hash)
                .await
                .map(StaffOrDevice)
                .map_err(|_| {
                    AppError::Forbidden("That token is not valid (or was revoked).".into())
                })
        })
    }
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage<'a> {
    username: &'a str,
    next: &'a str,
    error: Option<String>,
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: String,
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths: `next` must not send anyone to another host.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/admin"
    }
}

pub async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let csrf = state.csrf.issue(&req);
    let next = safe_next(query.next.as_deref().unwrap_or("/admin"));
    let page = LoginPage {
        username: "",
        next,
        error: None,
        csrf_token: csrf.token.clone(),
    };
    render_with_csrf(StatusCode::OK, &page, &csrf)
}

pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: LoginForm = serde_html_form::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("The sign-in form could not be read.".into()))?;
    let csrf = state.csrf.issue(&req);
    let next = safe_next(&form.next);
    let again = |status: StatusCode, error: String| {
        let page = LoginPage {
            username: &form.username,
            next,
            error: Some(error),
            csrf_token: csrf.token.clone(),
        };
        render_with_csrf(status, &page, &csrf)
    };
    if !state.csrf.verify(&req, &form.csrf_token) {
        return again(
            StatusCode::FORBIDDEN,
            "This form had expired. Please sign in again.".into(),
        );
    }
    let address = state
        .limits
        .client_ip(req.peer_addr(), req.headers())
        .map_or_else(|| "unknown".into(), |ip| ip.to_string());
    let username = form.username.trim().to_string();
    if let Err(wait) = state.login_throttle.check(&username, &address) {
        let seconds = wait.as_secs().max(1);
        let mut response = again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins. Please wait {} minute(s) and try again.",
                seconds.div_ceil(60)
            ),
        )?;
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_str(&seconds.to_string())
                .map_err(|e| AppError::Unexpected(e.into()))?,
        );
        return Ok(response);
    }

    let lookup = username.clone();
    let password = form.password.clone();
    // argon2 is deliberately slow: verify on the blocking pool, next to the lookup.
    let user = db::run(&state.pool, move |conn| {
        let user = db::staff::find_by_username(conn, &lookup)?;
        Ok(match user {
            Some(user) if password::verify(&password, &user.password_hash) => Some(user),
            Some(_) => None,
            None => {
                password::verify_dummy(&password);
                None
            }
        })
    })
    .await?;

    let Some(user) = user else {
        state.login_throttle.record_failure(&username, &address);
        // The same words for an unknown user and a wrong password.
        return again(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".into(),
        );
    };
    state.login_throttle.record_success(&username);
    session.renew();
    session
        .insert(
            SESSION_KEY,
            SignedIn {
                id: user.id,
                username: user.username,
                role: user.role,
                event_id: user.event_id,
                expires_at: db::now_ms() + SESSION_HOURS * 3_600_000,
            },
        )
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("cannot write the session: {e}")))?;
    tracing::info!(staff_id = user.id, "signed in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next.to_string()))
        .finish())
}

pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    if !state.csrf.verify_form(&req, &body) {
        return Err(AppError::Forbidden(
            "The sign-out form had expired; nothing changed.".into(),
        ));
    }
    session.purge();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
