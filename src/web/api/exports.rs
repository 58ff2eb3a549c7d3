//! CSV downloads under /api/v1/events/{event}/ for organisers (signed in or
//! with an organiser token). The summaries are the stats API's numbers.

use super::ApiError;
use crate::auth::{Caller, Permission};
use crate::db::events::Event;
use crate::db::{self, DbConnection, DbError};
use crate::domain::Country;
use crate::export::csv_bytes;
use crate::timefmt;
use crate::web::auth::ApiCaller;
use crate::web::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use std::convert::Infallible;

/// Which file, and how to make it from the event's data.
type Build = fn(&mut DbConnection, &Event) -> Result<Vec<u8>, DbError>;

async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    slug: String,
    name: &'static str,
    build: Build,
) -> Result<HttpResponse, ApiError> {
    let file = db::run(&state.pool, move |conn| {
        let Some(event) = db::events::find_event(conn, &slug)? else {
            return Ok(Err(ApiError::NotFound("no such event".into())));
        };
        if !caller.may(Permission::Reports, Some(event.id)) {
            return Ok(Err(ApiError::Forbidden("exports need an organiser".into())));
        }
        let file = build(conn, &event);
        // The event's rows, read to build the file, are freed by now.
        crate::memory::release();
        Ok(Ok((event.slug.clone(), file?)))
    })
    .await??;
    let (slug, bytes) = file;
    let length = bytes.len();
    let file = Bytes::from(bytes);
    // Sent in pieces: given whole, actix copies the file into the
    // connection's write buffer at once (37 MiB for a 500,000-record
    // attendance.csv), a second copy for as long as the send takes.
    let pieces = futures_util::stream::iter(
        (0..length)
            .step_by(PIECE)
            .map(move |at| Ok::<_, Infallible>(file.slice(at..length.min(at + PIECE)))),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{slug}-{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .no_chunking(length as u64)
        .streaming(pieces))
}

/// A CSV file goes out this much at a time.
const PIECE: usize = 64 << 10;

fn csv_error(e: csv::Error) -> DbError {
    DbError::Corrupt(format!("CSV: {e}"))
}

fn participants(conn: &mut DbConnection, event: &Event) -> Result<Vec<u8>, DbError> {
    let sessions = db::events::sessions_of(conn, event.id)?;
    let (people, records) = db::exports::participants_with_attendance(conn, event.id)?;
    let mut header = vec![
        "name",
        "email",
        "affiliation",
        "country",
        "mode",
        "category",
        "status",
        "checkin_code",
    ];
    header.extend(sessions.iter().map(|s| s.slug.as_str()));
    let rows =
        people.into_iter().map(|p| {
            let mut row = vec![
                p.full_name,
                p.email,
                p.affiliation,
                p.country,
                p.mode,
                p.category,
                p.status,
                p.checkin_code,
            ];
            row.extend(sessions.iter().map(
                |s| match records.get(&(p.id, s.id)).map(String::as_str) {
                    Some("offline") => "in person".to_string(),
                    Some(_) => "online".to_string(),
                    None => "absent".to_string(),
                },
            ));
            row
        });
    csv_bytes(&header, rows).map_err(csv_error)
}

fn attendance(conn: &mut DbConnection, event: &Event) -> Result<Vec<u8>, DbError> {
    let rows = db::exports::attendance_log(conn, event.id)?
        .into_iter()
        .map(|r| {
            vec![
                timefmt::rfc3339(r.recorded_at),
                r.name,
                r.country,
                r.session.unwrap_or_else(|| "(event entry)".into()),
                r.mode,
                r.source,
                r.door.unwrap_or_default(),
                r.recorded_by.unwrap_or_default(),
            ]
        });
    csv_bytes(
        &[
            "time",
            "name",
            "country",
            "session",
            "mode",
            "source",
            "door",
            "recorded_by",
        ],
        rows,
    )
    .map_err(csv_error)
}

fn stats(conn: &mut DbConnection, event: &Event) -> Result<crate::db::stats::EventStats, DbError> {
    db::stats::event_stats(conn, event.id, &event.slug, db::now_ms())
}

fn countries(conn: &mut DbConnection, event: &Event) -> Result<Vec<u8>, DbError> {
    let rows = stats(conn, event)?.by_country.into_iter().map(|c| {
        vec![
            c.code.clone(),
            Country::name_of(&c.code),
            c.registered.to_string(),
            c.attended_offline.to_string(),
            c.attended_online.to_string(),
            (c.attended_offline + c.attended_online).to_string(),
        ]
    });
    csv_bytes(
        &[
            "code",
            "country",
            "registered",
            "attended_in_person",
            "attended_online",
            "attended_total",
        ],
        rows,
    )
    .map_err(csv_error)
}

fn sessions(conn: &mut DbConnection, event: &Event) -> Result<Vec<u8>, DbError> {
    let rows = stats(conn, event)?.by_session.into_iter().map(|s| {
        let number = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
        vec![
            s.slug,
            s.title,
            s.starts_at,
            s.registered_offline.to_string(),
            s.registered_online.to_string(),
            s.in_person.to_string(),
            number(s.capacity_offline),
            s.online_joined.to_string(),
            s.online.to_string(),
            s.minutes_watched.to_string(),
        ]
    });
    csv_bytes(
        &[
            "slug",
            "title",
            "starts_at",
            "registered_in_person",
            "registered_online",
            "attended_in_person",
            "capacity_in_person",
            "joined_online",
            "attended_online",
            "minutes_watched",
        ],
        rows,
    )
    .map_err(csv_error)
}

pub async fn participants_csv(
    state: web::Data<AppState>,
    ApiCaller(caller): ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(
        state,
        caller,
        slug.into_inner(),
        "participants.csv",
        participants,
    )
    .await
}

pub async fn attendance_csv(
    state: web::Data<AppState>,
    ApiCaller(caller): ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(
        state,
        caller,
        slug.into_inner(),
        "attendance.csv",
        attendance,
    )
    .await
}

pub async fn countries_csv(
    state: web::Data<AppState>,
    ApiCaller(caller): ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(state, caller, slug.into_inner(), "countries.csv", countries).await
}

pub async fn sessions_csv(
    state: web::Data<AppState>,
    ApiCaller(caller): ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    download(state, caller, slug.into_inner(), "sessions.csv", sessions).await
}
