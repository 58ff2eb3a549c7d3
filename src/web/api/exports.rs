//! CSV downloads under /api/v1/events/{event}/ for organisers (signed in or
//! with an organiser token). The summaries are the stats API's numbers.

use super::ApiError;
use crate::auth::{Caller, Permission};
use crate::db::events::Event;
use crate::db::{self, DbConnection, DbError};
use crate::domain::Country;
use crate::export::{csv_pieces, CsvFile};
use crate::timefmt;
use crate::web::auth::ApiCaller;
use crate::web::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use std::convert::Infallible;

/// Which file, and how to make it from the event's data.
type Build = fn(&mut DbConnection, &Event) -> Result<Vec<Bytes>, DbError>;

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
    let (slug, pieces) = file;
    let length: usize = pieces.iter().map(Bytes::len).sum();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{slug}-{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .no_chunking(length as u64)
        // Piece by piece: given whole, actix copies the file into the
        // connection's write buffer at once (37 MiB for a 500,000-record
        // attendance.csv), a second copy for as long as the send takes.
        .streaming(futures_util::stream::iter(
            pieces.into_iter().map(Ok::<_, Infallible>),
        )))
}

fn csv_error(e: csv::Error) -> DbError {
    DbError::Corrupt(format!("CSV: {e}"))
}

fn participants(conn: &mut DbConnection, event: &Event) -> Result<Vec<Bytes>, DbError> {
    // The people and their records as of one moment.
    db::read_snapshot(conn, |conn| {
        let sessions = db::events::sessions_of(conn, event.id)?;
        let records = db::exports::session_attendance(conn, event.id)?;
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
        let mut file = CsvFile::new(&header).map_err(csv_error)?;
        db::exports::for_each_participant(conn, event.id, |p| {
            let person = [
                &p.full_name,
                &p.email,
                &p.affiliation,
                &p.country,
                &p.mode,
                &p.category,
                &p.status,
                &p.checkin_code,
            ];
            let at_sessions = sessions.iter().map(|s| match records.get(&(p.id, s.id)) {
                Some(true) => "in person",
                Some(false) => "online",
                None => "absent",
            });
            file.row(person.into_iter().map(String::as_str).chain(at_sessions))
                .map_err(csv_error)
        })?;
        file.into_pieces().map_err(csv_error)
    })
}

fn attendance(conn: &mut DbConnection, event: &Event) -> Result<Vec<Bytes>, DbError> {
    let mut file = CsvFile::new(&[
        "time",
        "name",
        "country",
        "session",
        "mode",
        "source",
        "door",
        "recorded_by",
    ])
    .map_err(csv_error)?;
    db::exports::for_each_attendance(conn, event.id, |r| {
        file.row([
            timefmt::rfc3339(r.recorded_at).as_str(),
            &r.name,
            &r.country,
            r.session.as_deref().unwrap_or("(event entry)"),
            &r.mode,
            &r.source,
            r.door.as_deref().unwrap_or_default(),
            r.recorded_by.as_deref().unwrap_or_default(),
        ])
        .map_err(csv_error)
    })?;
    file.into_pieces().map_err(csv_error)
}

fn stats(conn: &mut DbConnection, event: &Event) -> Result<crate::db::stats::EventStats, DbError> {
    db::stats::event_stats(conn, event.id, &event.slug, db::now_ms())
}

fn countries(conn: &mut DbConnection, event: &Event) -> Result<Vec<Bytes>, DbError> {
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
    csv_pieces(
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

fn sessions(conn: &mut DbConnection, event: &Event) -> Result<Vec<Bytes>, DbError> {
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
    csv_pieces(
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
