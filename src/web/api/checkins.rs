//! The check-in API: scans from door devices and the scan page, manual
//! check-ins, undo, and what a door needs to set itself up.

use super::ApiError;
use crate::auth::Permission;
use crate::db::checkins::{self, ScanRefusal, ScanRequest, Subject, Who};
use crate::db::events::{AgendaSession, Event};
use crate::db::{self, DbConnection, DbError};
use crate::domain::{CheckinCode, CheckinStatus, Country};
use crate::timefmt;
use crate::web::auth::{ApiCaller, Credentials};
use crate::web::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

const MAX_SCAN_ID: usize = 64;
const MAX_DOOR: usize = 80;

#[derive(Deserialize)]
struct CheckinBody {
    code: Option<String>,
    participant_id: Option<i32>,
    session: Option<String>,
    door: Option<String>,
    scan_id: Option<String>,
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        message: format!("the body is not the expected JSON: {e}"),
        field: None,
    })
}

fn optional_text(
    value: Option<String>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad(
            field,
            format!("{field} must be printable text of at most {max} characters"),
        ));
    }
    Ok(Some(value))
}

/// The event and (if named) the session, or the client's mistake.
fn event_and_session(
    conn: &mut DbConnection,
    event_slug: &str,
    session_slug: Option<&str>,
) -> Result<Result<(Event, Option<AgendaSession>), ApiError>, DbError> {
    let Some(event) = db::events::find_event(conn, event_slug)? else {
        return Ok(Err(ApiError::NotFound(format!("no event {event_slug:?}"))));
    };
    let session = match session_slug {
        None => None,
        Some(slug) => match db::events::find_session(conn, event.id, slug)? {
            Some(session) => Some(session),
            None => {
                return Ok(Err(ApiError::bad(
                    "session",
                    format!("no session {slug:?} at this event"),
                )))
            }
        },
    };
    Ok(Ok((event, session)))
}

pub async fn create(
    state: web::Data<AppState>,
    credentials: Credentials,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: CheckinBody = parse_body(&body)?;
    let subject = match (body.code, body.participant_id) {
        (Some(code), None) => Subject::Code(CheckinCode::parse(&code).ok()),
        (None, Some(id)) => Subject::Participant(id),
        (None, None) => return Err(ApiError::bad("code", "code is required")),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "code",
                "send either code or participant_id, not both",
            ))
        }
    };
    // Who may scan where is checked by the writer, in the batch that
    // records the scan: no extra database round trip per scan.
    let scan = ScanRequest {
        who: match credentials {
            Credentials::Device { token_hash } => Who::Device { token_hash },
            Credentials::Staff(caller) => Who::Staff(caller),
        },
        event_slug: path.into_inner(),
        session_slug: optional_text(body.session, "session", 100)?,
        subject,
        door: optional_text(body.door, "door", MAX_DOOR)?,
        scan_id: optional_text(body.scan_id, "scan_id", MAX_SCAN_ID)?,
        now: db::now_ms(),
    };
    let (event_id, answer) =
        state
            .checkins
            .record(scan)
            .await?
            .map_err(|refusal| match refusal {
                ScanRefusal::Unauthorized => ApiError::Unauthorized,
                ScanRefusal::NoSuchEvent => ApiError::NotFound("no such event".into()),
                ScanRefusal::NoSuchSession(slug) => {
                    ApiError::bad("session", format!("no session {slug:?} at this event"))
                }
                ScanRefusal::Forbidden(why) => ApiError::Forbidden(why.into()),
            })?;
    let reason = answer.reason.map_or("", |r| r.as_str());
    state.metrics.checkin(answer.status.as_str(), reason);
    if answer.status == CheckinStatus::Accepted {
        state.live.changed(event_id);
    }
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct UndoBody {
    participant_id: i32,
    session: Option<String>,
}

#[derive(Serialize)]
struct UndoAnswer {
    undone: bool,
}

pub async fn undo(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: UndoBody = parse_body(&body)?;
    let caller = caller.0;
    let event_slug = path.into_inner();
    let undone = db::run(&state.pool, move |conn| {
        let (event, session) = match event_and_session(conn, &event_slug, body.session.as_deref())?
        {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !caller.may(Permission::Reports, Some(event.id)) {
            return Ok(Err(ApiError::Forbidden(
                "undoing a check-in needs an organiser".into(),
            )));
        }
        checkins::undo_checkin(
            conn,
            &event,
            body.participant_id,
            session.as_ref(),
            &caller.actor(),
            db::now_ms(),
        )
        .map(|undone| Ok((event.id, undone)))
    })
    .await??;
    let (event_id, undone) = undone;
    if undone {
        state.live.changed(event_id);
    }
    Ok(HttpResponse::Ok().json(UndoAnswer { undone }))
}

#[derive(Serialize)]
struct SessionInfo {
    slug: String,
    title: String,
    room: String,
    time: String,
    open_now: bool,
}

#[derive(Serialize)]
struct DoorSetup {
    event: String,
    title: String,
    timezone: String,
    /// Whether this caller may check people into the event itself.
    event_entry: bool,
    sessions: Vec<SessionInfo>,
}

/// What a door device needs to set itself up: the sessions it may scan for.
pub async fn setup(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = caller.0;
    let event_slug = path.into_inner();
    let setup = db::run(&state.pool, move |conn| {
        let Some(event) = db::events::find_event(conn, &event_slug)? else {
            return Ok(Err(ApiError::NotFound(format!("no event {event_slug:?}"))));
        };
        if !caller.may(Permission::Scan, Some(event.id)) {
            return Ok(Err(ApiError::Forbidden(
                "this account or token may not scan at this event".into(),
            )));
        }
        let tz = timefmt::zone(&event.timezone);
        let now = db::now_ms();
        let sessions = db::events::sessions_of(conn, event.id)?
            .into_iter()
            .filter(|s| caller.may_scan_session(Some(s.id)))
            .map(|s| SessionInfo {
                open_now: now >= s.starts_at - event.grace_ms()
                    && now <= s.ends_at + event.grace_ms(),
                time: timefmt::span(s.starts_at, s.ends_at, tz),
                slug: s.slug,
                title: s.title,
                room: s.room,
            })
            .collect();
        Ok(Ok(DoorSetup {
            event_entry: caller.may_scan_session(None),
            event: event.slug,
            title: event.title,
            timezone: event.timezone,
            sessions,
        }))
    })
    .await??;
    Ok(HttpResponse::Ok().json(setup))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

#[derive(Serialize)]
struct Match {
    id: i32,
    name: String,
    affiliation: String,
    country: String,
    country_name: String,
    mode: String,
    category: String,
    status: String,
}

/// Manual check-in: find people by name or email (emails are matched, never shown).
pub async fn search(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = caller.0;
    let event_slug = path.into_inner();
    let q = optional_text(query.into_inner().q, "q", 100)?.unwrap_or_default();
    let matches = db::run(&state.pool, move |conn| {
        let Some(event) = db::events::find_event(conn, &event_slug)? else {
            return Ok(Err(ApiError::NotFound(format!("no event {event_slug:?}"))));
        };
        if !caller.may(Permission::Scan, Some(event.id)) {
            return Ok(Err(ApiError::Forbidden(
                "this account or token may not search this event".into(),
            )));
        }
        let found = db::participants::search(conn, event.id, &q, 20)?;
        Ok(Ok(found
            .into_iter()
            .map(|p| Match {
                id: p.id,
                country_name: Country::name_of(&p.country),
                name: p.full_name,
                affiliation: p.affiliation,
                country: p.country,
                mode: p.mode,
                category: p.category,
                status: p.status,
            })
            .collect::<Vec<_>>()))
    })
    .await??;
    Ok(HttpResponse::Ok().json(matches))
}
