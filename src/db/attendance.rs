//! Attendance records: who was at which session, how, and when.

use super::fixed_chunks::{chunk_writer, write_in_chunks};
use super::schema::attendance;
use super::{DbConnection, DbError};
use crate::domain::{AttendanceMode, AttendanceSource};
use crate::with_backend;
use diesel::prelude::*;

pub struct NewAttendance<'a> {
    pub event_id: i32,
    pub participant_id: i32,
    /// `None`: entry to the event itself.
    pub session_id: Option<i32>,
    pub mode: AttendanceMode,
    pub source: AttendanceSource,
    pub door: Option<&'a str>,
    pub recorded_by: Option<&'a str>,
    pub recorded_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = attendance, treat_none_as_default_value = false)]
pub(super) struct AttendanceRow<'a> {
    pub event_id: i32,
    pub participant_id: i32,
    pub session_id: Option<i32>,
    pub mode: &'a str,
    pub source: &'a str,
    pub door: Option<&'a str>,
    pub recorded_by: Option<&'a str>,
    pub recorded_at: i64,
}

/// Inserts the rows whose (person, session) has no record yet, in one
/// statement, and says which pairs were new. Rows go in key order (one per
/// pair), so two writers inserting the same people wait for each other
/// instead of deadlocking.
pub(super) fn insert_new(
    conn: &mut DbConnection,
    mut rows: Vec<AttendanceRow>,
) -> Result<Vec<(i32, Option<i32>)>, DbError> {
    rows.sort_by_key(|row| (row.participant_id, row.session_id));
    rows.dedup_by_key(|row| (row.participant_id, row.session_id));
    let inserted = write_in_chunks(&rows, &mut InsertNew(conn))?;
    Ok(inserted.concat())
}

chunk_writer!(
    InsertNew,
    AttendanceRow<'_>,
    Vec<(i32, Option<i32>)>,
    |c, rows| diesel::insert_into(attendance::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning((attendance::participant_id, attendance::session_id))
        .get_results(c)
);

/// Records attendance unless the person is already counted for that session;
/// `true` when this call counted them. The unique index decides, so two doors
/// racing on one code can't both count it.
pub fn record(conn: &mut DbConnection, new: &NewAttendance) -> Result<bool, DbError> {
    let row = AttendanceRow {
        event_id: new.event_id,
        participant_id: new.participant_id,
        session_id: new.session_id,
        mode: new.mode.as_str(),
        source: new.source.as_str(),
        door: new.door,
        recorded_by: new.recorded_by,
        recorded_at: new.recorded_at,
    };
    let inserted = with_backend!(conn, |c| diesel::insert_into(attendance::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}
