//! Attendance records: who was at which session, how, and when.

use super::fixed_chunks::{chunk_writer, insert_head, write_in_chunks, ChunkRow};
use super::schema::attendance;
use super::{DbConnection, DbError};
use crate::domain::{AttendanceMode, AttendanceSource};
use crate::with_backend;
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;

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
    /// See [`AttendanceRow::scan_id`].
    pub scan_id: Option<&'a str>,
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
    /// The scan id of a plain acceptance whose log row is not written
    /// (`checkins::write_log`); `None` otherwise.
    pub scan_id: Option<&'a str>,
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
    get_results,
    |rows| diesel::insert_into(attendance::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning((attendance::participant_id, attendance::session_id))
);

/// On SQLite the rows go in with `INSERT OR FAIL`. With SQLite's default
/// (abort the statement), a multi-row insert with triggers first copies
/// every page it will change into a statement journal, so that it can undo
/// itself half way; with FAIL (and attendance's foreign keys deferred to
/// COMMIT) nothing can stop it half way and the journal is skipped: ~30
/// pages of 4 KiB a door batch (BENCHMARKS.md history 31). A row that does
/// fail still fails the whole batch: the caller's transaction rolls back
/// on any error. Diesel can't say OR FAIL, hence [`ChunkRow`].
impl ChunkRow for AttendanceRow<'_> {
    type Key = AttendanceRow<'static>;
    type SqlType = (Integer, Nullable<Integer>);

    fn head(out: AstPass<'_, '_, Sqlite>) -> QueryResult<()> {
        use attendance::*;
        let columns = [
            event_id::NAME,
            participant_id::NAME,
            session_id::NAME,
            mode::NAME,
            source::NAME,
            door::NAME,
            recorded_by::NAME,
            recorded_at::NAME,
            scan_id::NAME,
        ];
        insert_head(out, "INSERT OR FAIL", "attendance", &columns)
    }

    fn values<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_bind_param::<Integer, _>(&self.event_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&self.participant_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.session_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.mode)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.source)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.door)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.recorded_by)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.recorded_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.scan_id)
    }

    fn tail(mut out: AstPass<'_, '_, Sqlite>) -> QueryResult<()> {
        out.push_sql(" ON CONFLICT DO NOTHING RETURNING ");
        out.push_identifier(attendance::participant_id::NAME)?;
        out.push_sql(", ");
        out.push_identifier(attendance::session_id::NAME)
    }
}

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
        scan_id: new.scan_id,
    };
    let inserted = with_backend!(conn, |c| diesel::insert_into(attendance::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forum() -> DbConnection {
        crate::db::testing::forum(
            ":memory:",
            "PRAGMA foreign_keys = ON; \
             INSERT INTO participants (id, event_id, full_name, email, affiliation, country, mode, \
                                       category, status, checkin_code, page_token, created_at) VALUES \
             (1, 1, 'A', 'a@x', '', 'DE', 'offline', 'delegate', 'registered', 'c1', 't1', 0), \
             (2, 1, 'B', 'b@x', '', 'FR', 'offline', 'delegate', 'registered', 'c2', 't2', 0);",
        )
    }

    fn row(participant_id: i32, mode: &str) -> AttendanceRow<'_> {
        AttendanceRow {
            event_id: 1,
            participant_id,
            session_id: None,
            mode,
            source: "door_scan",
            door: Some("North"),
            recorded_by: None,
            recorded_at: 5,
            scan_id: None,
        }
    }

    fn stored(conn: &mut DbConnection) -> i64 {
        attendance::table.count().get_result(conn).unwrap()
    }

    /// SQLite inserts a batch with `INSERT OR FAIL`, which keeps the rows
    /// before a failing one; the batch's transaction must take them back.
    #[test]
    fn a_batch_with_one_bad_row_records_none_of_it() {
        let mut conn = forum();
        let bad_mode =
            conn.transaction(|c| insert_new(c, vec![row(1, "offline"), row(2, "radio")]));
        assert!(bad_mode.is_err());
        assert_eq!(stored(&mut conn), 0);

        // Someone who isn't there: the deferred key stops the commit.
        let nobody =
            conn.transaction(|c| insert_new(c, vec![row(1, "offline"), row(99, "offline")]));
        assert!(nobody.is_err());
        assert_eq!(stored(&mut conn), 0);

        let first = conn
            .transaction(|c| insert_new(c, vec![row(2, "offline"), row(1, "offline")]))
            .unwrap();
        assert_eq!(first, vec![(1, None), (2, None)]);
        let again = conn
            .transaction(|c| insert_new(c, vec![row(1, "offline"), row(2, "offline")]))
            .unwrap();
        assert!(again.is_empty(), "each counts once");
        assert_eq!(stored(&mut conn), 2);
        let grid: (i64, i64) =
            diesel::dsl::sql::<(diesel::sql_types::BigInt, diesel::sql_types::BigInt)>(
                "SELECT SUM(attended), SUM(in_person) FROM participant_grid",
            )
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(grid, (2, 2), "the grid's triggers still count");
    }
}
