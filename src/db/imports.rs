//! Importing a checked participant list: every row in one transaction, or
//! none. Rows go in as multi-row inserts; emails already registered and
//! seats left are checked inside the same transaction, under the same
//! session locks a web registration takes.

use super::participants::{lock_sessions, ParticipantRow, Refusal, SeatRow};
use super::schema::{participant_sessions, participants};
use super::{events, DbConnection, DbError};
use crate::domain::import::{ImportProblem, ImportProblems, ImportRow};
use crate::domain::{AttendanceMode, CheckinCode, PageToken};
use crate::with_backend;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::collections::HashMap;

/// Rows per INSERT statement: 11 bound values each stays far below SQLite's
/// limit on parameters, and each chunk reports progress.
const CHUNK: usize = 500;

/// A participant the import created, for the confirmation mail.
#[derive(Debug)]
pub struct Imported {
    pub participant_id: i32,
    pub full_name: String,
    pub email: String,
    pub page_token: PageToken,
    pub checkin_code: CheckinCode,
}

#[derive(Debug)]
pub enum ImportOutcome {
    Imported(Vec<Imported>),
    /// Nothing was stored, for these reasons.
    Refused(ImportProblems),
}

/// Stores every row of a checked list, or none. `progress` is told how many
/// rows are in after each chunk.
pub fn import(
    conn: &mut DbConnection,
    event_id: i32,
    rows: &[ImportRow],
    now_ms: i64,
    progress: &mut dyn FnMut(usize),
) -> Result<ImportOutcome, DbError> {
    let secrets: Vec<(CheckinCode, PageToken)> = rows
        .iter()
        .map(|_| (CheckinCode::generate(), PageToken::generate()))
        .collect();
    let result = super::write_transaction::<_, Refusal<ImportProblems>, _>(conn, |conn| {
        lock_sessions(
            conn,
            rows.iter()
                .flat_map(|row| row.registration.sessions.iter().map(|(id, _)| *id))
                .collect(),
        )?;
        refuse_emails_taken(conn, event_id, rows)?;

        let mut ids = Vec::with_capacity(rows.len());
        for (chunk, chunk_secrets) in rows.chunks(CHUNK).zip(secrets.chunks(CHUNK)) {
            let people: Vec<ParticipantRow> = chunk
                .iter()
                .zip(chunk_secrets)
                .map(|(row, (code, token))| {
                    ParticipantRow::new(event_id, &row.registration.person, code, token, now_ms)
                })
                .collect();
            let inserted: Vec<(i32, String)> =
                with_backend!(conn, |c| diesel::insert_into(participants::table)
                    .values(&people)
                    .returning((participants::id, participants::checkin_code))
                    .get_results(c))
                .map_err(|e| {
                    match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        Refusal::Stop(ImportProblem::whole_file(
                            "someone on the list registered on the web while the file was being \
                             imported, so nothing was imported: upload the file again to see who",
                        ).into())
                    }
                    other => other.into(),
                }
                })?;
            // RETURNING's order is not promised: match rows by their code.
            let id_of: HashMap<String, i32> =
                inserted.into_iter().map(|(id, code)| (code, id)).collect();
            let chunk_ids = chunk_secrets
                .iter()
                .map(|(code, _)| {
                    id_of.get(code.as_str()).copied().ok_or_else(|| {
                        Refusal::Db(DbError::Corrupt(
                            "an inserted participant was not returned".into(),
                        ))
                    })
                })
                .collect::<Result<Vec<i32>, _>>()?;

            let seats: Vec<SeatRow> = chunk
                .iter()
                .zip(&chunk_ids)
                .flat_map(|(row, &participant_id)| {
                    row.registration
                        .sessions
                        .iter()
                        .map(move |&(session_id, seat)| SeatRow {
                            participant_id,
                            session_id,
                            seat: seat.as_str(),
                        })
                })
                .collect();
            for seat_chunk in seats.chunks(CHUNK) {
                with_backend!(conn, |c| diesel::insert_into(participant_sessions::table)
                    .values(seat_chunk)
                    .execute(c))?;
            }
            ids.extend(chunk_ids);
            progress(ids.len());
        }

        refuse_overbooking(conn, event_id)?;
        Ok(ids)
    });
    match result {
        Ok(ids) => Ok(ImportOutcome::Imported(
            rows.iter()
                .zip(ids)
                .zip(secrets)
                .map(
                    |((row, participant_id), (checkin_code, page_token))| Imported {
                        participant_id,
                        full_name: row.registration.person.full_name.as_str().to_string(),
                        email: row.registration.person.email.as_str().to_string(),
                        page_token,
                        checkin_code,
                    },
                )
                .collect(),
        )),
        Err(Refusal::Stop(problems)) => Ok(ImportOutcome::Refused(problems)),
        Err(Refusal::Db(e)) => Err(e),
    }
}

/// One problem per row whose email already has a live registration here.
fn refuse_emails_taken(
    conn: &mut DbConnection,
    event_id: i32,
    rows: &[ImportRow],
) -> Result<(), Refusal<ImportProblems>> {
    let mut problems = ImportProblems::default();
    for chunk in rows.chunks(CHUNK) {
        let line_of: HashMap<&str, u64> = chunk
            .iter()
            .map(|row| (row.registration.person.email.as_str(), row.line))
            .collect();
        let taken: Vec<String> = participants::table
            .filter(participants::event_id.eq(event_id))
            .filter(participants::status.eq("registered"))
            .filter(participants::email.eq_any(line_of.keys().copied()))
            .select(participants::email)
            .load(conn)?;
        let mut lines: Vec<(u64, String)> = taken
            .into_iter()
            .filter_map(|email| line_of.get(email.as_str()).map(|&line| (line, email)))
            .collect();
        lines.sort_unstable();
        for (line, email) in lines {
            problems.push(ImportProblem::at(
                line,
                format!("{email} is already registered for this event"),
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Stop(problems))
    }
}

/// After the inserts: any session with more live registrations than seats
/// refuses the whole import.
fn refuse_overbooking(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<(), Refusal<ImportProblems>> {
    let sessions = events::sessions_of(conn, event_id)?;
    let taken = events::seats_taken(conn, event_id)?;
    let mut problems = ImportProblems::default();
    for (session_id, seat, count) in taken {
        let Some(session) = sessions.iter().find(|s| s.id == session_id) else {
            continue;
        };
        let (capacity, kind) = match seat {
            AttendanceMode::Offline => (session.capacity_offline, "in-person seats"),
            AttendanceMode::Online => (session.capacity_online, "online places"),
        };
        if let Some(capacity) = capacity.filter(|&c| count > i64::from(c)) {
            problems.push(ImportProblem::whole_file(format!(
                "“{}” has {capacity} {kind}: with this file {count} would be taken, {} too many",
                session.title,
                count - i64::from(capacity)
            )));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Stop(problems))
    }
}
