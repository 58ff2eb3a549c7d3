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

/// Whether each attendance at a session was in person, by (participant
/// id, session id): a flag rather than the mode's text, so 500,000
/// records take a few MiB.
pub type SessionAttendance = HashMap<(i32, i32), bool>;

/// Calls `each` with every row of a query as the database hands it over,
/// none kept: at report scale the rows, held all at once, were several
/// times the size of the file made from them (BENCHMARKS.md history 38).
/// PostgreSQL sends them one at a time too, where by default libpq
/// receives the whole result before the first row is read.
macro_rules! for_each_row {
    ($conn:expr, $query:expr, $row:ty, $each:expr) => {
        match $conn {
            DbConnection::Postgresql(c) => each_row(
                diesel::RunQueryDsl::load_iter::<$row, diesel::pg::PgRowByRowLoadingMode>(
                    $query, c,
                )?,
                $each,
            ),
            DbConnection::Sqlite(c) => each_row(
                diesel::RunQueryDsl::load_iter::<$row, diesel::connection::DefaultLoadingMode>(
                    $query, c,
                )?,
                $each,
            ),
        }
    };
}

fn each_row<T>(
    rows: impl Iterator<Item = QueryResult<T>>,
    mut each: impl FnMut(T) -> Result<(), DbError>,
) -> Result<(), DbError> {
    for row in rows {
        each(row?)?;
    }
    Ok(())
}

/// Every session attendance of the event, to be looked up per person and
/// session (a scan of the records for each cell took 44 s for 100,000
/// people and 500,000 records; BENCHMARKS.md history 34).
pub fn session_attendance(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<SessionAttendance, DbError> {
    let mut in_person_at = SessionAttendance::new();
    for_each_row!(
        conn,
        attendance::table
            .filter(attendance::event_id.eq(event_id))
            .filter(attendance::session_id.is_not_null())
            .select((
                attendance::participant_id,
                attendance::session_id,
                attendance::mode.eq("offline"),
            )),
        (i32, Option<i32>, bool),
        |(person, session, in_person): (i32, Option<i32>, bool)| {
            if let Some(session) = session {
                in_person_at.insert((person, session), in_person);
            }
            Ok::<(), DbError>(())
        }
    )?;
    Ok(in_person_at)
}

/// Calls `each` with the event's participants, by name.
pub fn for_each_participant(
    conn: &mut DbConnection,
    event_id: i32,
    each: impl FnMut(ParticipantRow) -> Result<(), DbError>,
) -> Result<(), DbError> {
    for_each_row!(
        conn,
        participants::table
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
            )),
        ParticipantRow,
        each
    )
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

/// Calls `each` with the event's attendance records, oldest first.
pub fn for_each_attendance(
    conn: &mut DbConnection,
    event_id: i32,
    each: impl FnMut(AttendanceRow) -> Result<(), DbError>,
) -> Result<(), DbError> {
    for_each_row!(
        conn,
        attendance::table
            .inner_join(participants::table)
            .left_join(
                agenda_sessions::table
                    .on(agenda_sessions::id.nullable().eq(attendance::session_id)),
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
            )),
        AttendanceRow,
        each
    )
}
