//! Joining online from the personal page: the join link (counts the person
//! and sends them to the stream), the watch page, and its presence socket.

use super::error::AppError;
use super::{render, AppState};
use crate::db::online::{JoinContext, JoinRefusal};
use crate::db::{self};
use crate::domain::PageToken;
use crate::timefmt;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

async fn context(
    state: &AppState,
    token: &str,
    slug: &str,
) -> Result<(PageToken, JoinContext), AppError> {
    let token = PageToken::parse(token).map_err(|_| AppError::NotFound)?;
    let (lookup, slug) = (token.clone(), slug.to_string());
    let found = db::run(&state.pool, move |conn| {
        db::online::join_context(conn, &lookup, &slug)
    })
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((token, found))
}

#[derive(Template)]
#[template(path = "personal/join.html")]
struct JoinPage {
    token: String,
    session_title: String,
    heading: &'static str,
    message: String,
    /// When the window opens, RFC 3339, for the viewer's own clock.
    opens_at: Option<String>,
}

fn refusal(
    token: &PageToken,
    context: &JoinContext,
    refused: JoinRefusal,
) -> Result<HttpResponse, AppError> {
    let tz = timefmt::zone(&context.timezone);
    let when = |ms| {
        format!(
            "{} {} ({})",
            timefmt::day(ms, tz),
            timefmt::clock(ms, tz),
            context.timezone
        )
    };
    let (status, heading, message, opens_at) = match refused {
        JoinRefusal::NotOpen { opens_at, closes_at } if db::now_ms() < opens_at => (
            StatusCode::OK,
            "Not open yet",
            format!("Joining opens at {} and stays open until {}.", when(opens_at), when(closes_at)),
            Some(timefmt::rfc3339(opens_at)),
        ),
        JoinRefusal::NotOpen { closes_at, .. } => (
            StatusCode::OK,
            "This session is over",
            format!("Joining closed at {}.", when(closes_at)),
            None,
        ),
        JoinRefusal::NotRegistered => (
            StatusCode::FORBIDDEN,
            "Not registered for this session",
            "You did not choose this session when you registered, so there is no place for you online. Nothing was recorded.".into(),
            None,
        ),
        JoinRefusal::Cancelled => (
            StatusCode::FORBIDDEN,
            "Registration cancelled",
            "This registration was cancelled, so it can't join sessions. Nothing was recorded.".into(),
            None,
        ),
        JoinRefusal::NoStream => (
            StatusCode::OK,
            "In person only",
            "This session takes place in the room only; there is no stream to join.".into(),
            None,
        ),
    };
    let page = JoinPage {
        token: token.as_str().to_string(),
        session_title: context.session.title.clone(),
        heading,
        message,
        opens_at,
    };
    render(status, &page)
}

/// Hands the join to the join writer, which finds the person and session,
/// checks the window and records the join for every join of the moment in
/// one commit; refreshes the dashboards when it counted someone new.
/// `Ok(stream URL)`, or why not.
async fn join_now(
    state: &AppState,
    token: &str,
    slug: &str,
) -> Result<(PageToken, JoinContext, Result<String, JoinRefusal>), AppError> {
    let token = PageToken::parse(token).map_err(|_| AppError::NotFound)?;
    let outcome = state
        .joins
        .record(db::online::JoinAsk {
            token: token.clone(),
            slug: slug.to_string(),
            at: db::now_ms(),
        })
        .await?
        .ok_or(AppError::NotFound)?;
    if outcome.newly_counted {
        state.live.changed(outcome.context.event_id);
    }
    Ok((token, outcome.context, outcome.joined))
}

/// `GET /r/{token}/join/{session}`: inside the window, counts the person as
/// attending online (once) and sends them to the stream.
pub async fn join(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (token, slug) = path.into_inner();
    let (token, context, joined) = join_now(&state, &token, &slug).await?;
    match joined {
        Ok(stream_url) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, stream_url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        Err(refused) => refusal(&token, &context, refused),
    }
}

#[derive(Template)]
#[template(path = "personal/watch.html")]
struct WatchPage {
    token: String,
    slug: String,
    session_title: String,
    stream_url: String,
}

/// `GET /r/{token}/watch/{session}`: the stream link, and a socket that
/// counts the minutes this page is open.
pub async fn watch(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (token, slug) = path.into_inner();
    let (token, context, joined) = join_now(&state, &token, &slug).await?;
    match joined {
        Ok(stream_url) => {
            let page = WatchPage {
                token: token.as_str().to_string(),
                slug,
                session_title: context.session.title,
                stream_url,
            };
            render(StatusCode::OK, &page)
        }
        Err(refused) => refusal(&token, &context, refused),
    }
}

/// `GET /ws/watch/{token}/{session}`: presence for a registered participant
/// while the session's joining window is open.
pub async fn presence(
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (token, slug) = path.into_inner();
    let (_, context) = context(&state, &token, &slug).await?;
    let (opens, closes) = context.session.join_window();
    let now = db::now_ms();
    let allowed = !context.cancelled
        && context.registered_for_session
        && context.session.is_online()
        && now >= opens
        && now <= closes;
    if !allowed {
        return Err(AppError::Forbidden(
            "Not watching: this registration can't follow this session now.".into(),
        ));
    }
    state
        .live
        .watch_socket(
            &req,
            stream,
            context.participant_id,
            context.session.id,
            context.event_id,
        )
        .map_err(|e| AppError::BadRequest(format!("not a WebSocket handshake: {e}")))
}
