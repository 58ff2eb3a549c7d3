//! Row-by-row data for the CSV exports (exports are lists of rows; the
//! summaries come from `stats::event_stats`).

use super::schema::{agenda_sessions, attendance, participants};
use super::{DbConnection, DbError};
use diesel::prelude::*;
use std::collections::HashMap;

#[derive(Queryable)]
pub struct ParticipantRow {
    pub id: i32,
    pub full_name: String,
    pub email: String,
    pub affiliation: String,
    pub country: String,
    pub mode: String,
    pub category: String,
    pub status: String,
    pub checkin_code: String,
}

/// The mode of each attendance at a session, by (participant id, session id).
pub type SessionAttendance = HashMap<(i32, i32), String>;

/// Participants by name, and every attendance at a session, to be looked
/// up per person and session (a scan of the records for each cell took
/// 44 s for 100,000 people and 500,000 records; BENCHMARKS.md history 34).
pub fn participants_with_attendance(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<(Vec<ParticipantRow>, SessionAttendance), DbError> {
    let people = participants::table
        .filter(participants::event_id.eq(event_id))
        .order((participants::full_name, participants::id))
        .select((
            participants::id,
            participants::full_name,
            participants::email,
            participants::affiliation,
            participants::country,
            participants::mode,
            participants::category,
            participants::status,
            participants::checkin_code,
        ))
        .load(conn)?;
    let records: Vec<(i32, Option<i32>, String)> = attendance::table
        .filter(attendance::event_id.eq(event_id))
        .filter(attendance::session_id.is_not_null())
        .select((
            attendance::participant_id,
            attendance::session_id,
            attendance::mode,
        ))
        .load(conn)?;
    let records = records
        .into_iter()
        .filter_map(|(p, s, m)| s.map(|s| ((p, s), m)))
        .collect();
    Ok((people, records))
}

#[derive(Queryable)]
pub struct AttendanceRow {
    pub recorded_at: i64,
    pub name: String,
    pub country: String,
    pub session: Option<String>,
    pub mode: String,
    pub source: String,
    pub door: Option<String>,
    pub recorded_by: Option<String>,
}

/// The attendance log, oldest first.
pub fn attendance_log(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<Vec<AttendanceRow>, DbError> {
    Ok(attendance::table
        .inner_join(participants::table)
        .left_join(
            agenda_sessions::table.on(agenda_sessions::id.nullable().eq(attendance::session_id)),
        )
        .filter(attendance::event_id.eq(event_id))
        .order((attendance::recorded_at, attendance::id))
        .select((
            attendance::recorded_at,
            participants::full_name,
            participants::country,
            agenda_sessions::slug.nullable(),
            attendance::mode,
            attendance::source,
            attendance::door,
            attendance::recorded_by,
        ))
        .load(conn)?)
}
