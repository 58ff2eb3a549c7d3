//! Registrations: storing one (capacity checked in the same transaction),
//! finding one by its secrets, cancelling.

use super::events::{AgendaSession, Event};
use super::schema::{agenda_sessions, events, participant_sessions, participants};
use super::{DbConnection, DbError};
use crate::domain::{
    fold_for_search, AttendanceMode, CheckinCode, NewRegistration, PageToken, PersonDetails,
};
use crate::with_backend;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = participants)]
pub struct Participant {
    pub id: i32,
    pub event_id: i32,
    pub full_name: String,
    pub email: String,
    pub affiliation: String,
    pub country: String,
    pub mode: String,
    pub category: String,
    pub status: String,
    pub checkin_code: String,
    pub page_token: String,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
}

impl Participant {
    pub fn is_cancelled(&self) -> bool {
        is_cancelled(&self.status)
    }
}

/// Whether a participant's `status` column says they cancelled.
pub(super) fn is_cancelled(status: &str) -> bool {
    status == "cancelled"
}

#[derive(Insertable)]
#[diesel(table_name = participants)]
pub(super) struct ParticipantRow<'a> {
    event_id: i32,
    full_name: &'a str,
    email: &'a str,
    affiliation: &'a str,
    country: &'a str,
    mode: &'a str,
    category: &'a str,
    status: &'a str,
    checkin_code: &'a str,
    page_token: &'a str,
    created_at: i64,
    name_folded: String,
}

impl<'a> ParticipantRow<'a> {
    /// A new live registration of `person` with its two secrets.
    pub(super) fn new(
        event_id: i32,
        person: &'a PersonDetails,
        checkin_code: &'a CheckinCode,
        page_token: &'a PageToken,
        now_ms: i64,
    ) -> Self {
        Self {
            event_id,
            full_name: person.full_name.as_str(),
            email: person.email.as_str(),
            affiliation: person.affiliation.as_str(),
            country: person.country.code(),
            mode: person.mode.as_str(),
            category: person.category.as_str(),
            status: "registered",
            checkin_code: checkin_code.as_str(),
            page_token: page_token.as_str(),
            created_at: now_ms,
            name_folded: person.full_name.folded(),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = participant_sessions)]
pub(super) struct SeatRow {
    pub participant_id: i32,
    pub session_id: i32,
    pub seat: &'static str,
}

/// Takes the row locks on `session_ids` (sorted first, so two writers can't
/// deadlock) that make a seat count and the insert after it one step. On
/// SQLite the first write takes the database's write lock as well.
pub(super) fn lock_sessions(
    conn: &mut DbConnection,
    mut session_ids: Vec<i32>,
) -> Result<(), DieselError> {
    session_ids.sort_unstable();
    session_ids.dedup();
    for id in &session_ids {
        diesel::update(agenda_sessions::table.find(id))
            .set(agenda_sessions::id.eq(agenda_sessions::id))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug)]
pub enum RegisterOutcome {
    Registered {
        participant_id: i32,
        page_token: PageToken,
        checkin_code: CheckinCode,
    },
    /// A live registration with this email exists for the event.
    EmailTaken,
    /// No seat of that kind is left in the session.
    SessionFull {
        session_id: i32,
        seat: AttendanceMode,
    },
}

/// Why a transaction rolled back: an answer for the user, or a database error.
#[derive(Debug)]
pub(super) enum Refusal<T> {
    Stop(T),
    Db(DbError),
}

impl<T> From<DieselError> for Refusal<T> {
    fn from(e: DieselError) -> Self {
        Refusal::Db(e.into())
    }
}

impl<T> From<DbError> for Refusal<T> {
    fn from(e: DbError) -> Self {
        Refusal::Db(e)
    }
}

impl<T> super::TransactionError for Refusal<T> {
    fn diesel_error(&self) -> Option<&DieselError> {
        match self {
            Refusal::Stop(_) => None,
            Refusal::Db(e) => e.diesel_error(),
        }
    }
}

/// Stores a registration with fresh secrets. The seat check and the insert
/// share one transaction, and each capped session's row is locked first (in
/// id order, so two registrations can't deadlock), so concurrent registrants
/// can't overbook a session on either backend. The lock is a write, so on
/// SQLite the transaction holds the write lock from its first statement.
pub fn register(
    conn: &mut DbConnection,
    event_id: i32,
    reg: &NewRegistration,
    now_ms: i64,
) -> Result<RegisterOutcome, DbError> {
    let checkin_code = CheckinCode::generate();
    let page_token = PageToken::generate();
    let result = super::write_transaction::<_, Refusal<RegisterOutcome>, _>(conn, |conn| {
        lock_sessions(conn, reg.sessions.iter().map(|(id, _)| *id).collect())?;
        let row = ParticipantRow::new(event_id, &reg.person, &checkin_code, &page_token, now_ms);
        let inserted = with_backend!(conn, |c| diesel::insert_into(participants::table)
            .values(&row)
            .returning(participants::id)
            .get_result::<i32>(c));
        let participant_id = match inserted {
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
                if info.message().contains("email")
                    || info.constraint_name() == Some("participants_one_live_email") =>
            {
                return Err(Refusal::Stop(RegisterOutcome::EmailTaken));
            }
            other => other?,
        };

        let seats: Vec<SeatRow> = reg
            .sessions
            .iter()
            .map(|(session_id, seat)| SeatRow {
                participant_id,
                session_id: *session_id,
                seat: seat.as_str(),
            })
            .collect();
        if !seats.is_empty() {
            with_backend!(conn, |c| diesel::insert_into(participant_sessions::table)
                .values(&seats)
                .execute(c))?;
        }

        for (session_id, seat) in &reg.sessions {
            let (offline, online): (Option<i32>, Option<i32>) = agenda_sessions::table
                .find(session_id)
                .select((
                    agenda_sessions::capacity_offline,
                    agenda_sessions::capacity_online,
                ))
                .first(conn)?;
            let capacity = match seat {
                AttendanceMode::Offline => offline,
                AttendanceMode::Online => online,
            };
            let Some(capacity) = capacity else { continue };
            let taken: i64 = participant_sessions::table
                .inner_join(participants::table)
                .filter(participant_sessions::session_id.eq(session_id))
                .filter(participant_sessions::seat.eq(seat.as_str()))
                .filter(participants::status.eq("registered"))
                .count()
                .get_result(conn)?;
            if taken > i64::from(capacity) {
                return Err(Refusal::Stop(RegisterOutcome::SessionFull {
                    session_id: *session_id,
                    seat: *seat,
                }));
            }
        }
        Ok(participant_id)
    });
    match result {
        Ok(participant_id) => Ok(RegisterOutcome::Registered {
            participant_id,
            page_token,
            checkin_code,
        }),
        Err(Refusal::Stop(outcome)) => Ok(outcome),
        Err(Refusal::Db(e)) => Err(e),
    }
}

/// A participant with their event and chosen sessions: the personal page.
pub struct PersonalView {
    pub participant: Participant,
    pub event: Event,
    pub sessions: Vec<(AgendaSession, AttendanceMode)>,
}

pub fn find_by_page_token(
    conn: &mut DbConnection,
    token: &PageToken,
) -> Result<Option<PersonalView>, DbError> {
    let found: Option<(Participant, Event)> = participants::table
        .inner_join(events::table)
        .filter(participants::page_token.eq(token.as_str()))
        .select((Participant::as_select(), Event::as_select()))
        .first(conn)
        .optional()?;
    let Some((participant, event)) = found else {
        return Ok(None);
    };
    let rows: Vec<(AgendaSession, String)> = participant_sessions::table
        .inner_join(agenda_sessions::table)
        .filter(participant_sessions::participant_id.eq(participant.id))
        .order((agenda_sessions::starts_at, agenda_sessions::id))
        .select((AgendaSession::as_select(), participant_sessions::seat))
        .load(conn)?;
    let sessions = rows
        .into_iter()
        .map(|(s, seat)| {
            (
                s,
                AttendanceMode::parse(&seat).unwrap_or(AttendanceMode::Online),
            )
        })
        .collect();
    Ok(Some(PersonalView {
        participant,
        event,
        sessions,
    }))
}

/// The live registration of `email` at an event, to send its link again.
pub fn find_live_by_email(
    conn: &mut DbConnection,
    event_id: i32,
    email: &str,
) -> Result<Option<Participant>, DbError> {
    Ok(participants::table
        .filter(participants::event_id.eq(event_id))
        .filter(participants::email.eq(email))
        .filter(participants::status.eq("registered"))
        .select(Participant::as_select())
        .first(conn)
        .optional()?)
}

/// Cancels a live registration; the event's id, or `None` when it was
/// already cancelled. Seats are counted over live registrations only, so
/// they free up at once.
///
/// One statement, but in a write transaction all the same: on PostgreSQL
/// its trigger then locks the person's seat counts, which a door batch or
/// a registration may hold while waiting for this person's row, and the
/// deadlock's victim must be run again, not answered 500.
pub fn cancel(
    conn: &mut DbConnection,
    token: &PageToken,
    now_ms: i64,
) -> Result<Option<i32>, DbError> {
    super::write_transaction(conn, |conn| {
        Ok(diesel::update(
            participants::table
                .filter(participants::page_token.eq(token.as_str()))
                .filter(participants::status.eq("registered")),
        )
        .set((
            participants::status.eq("cancelled"),
            participants::cancelled_at.eq(Some(now_ms)),
        ))
        .returning(participants::event_id)
        .get_result(conn)
        .optional()?)
    })
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
diesel::define_sql_function!(
    fn coalesce(
        x: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        y: diesel::sql_types::Text,
    ) -> diesel::sql_types::Text
);

/// Up to `limit` participants of an event whose name or email starts with
/// `query` (or whose name has a word starting with it), ignoring case and
/// accents: "wisn" finds "Zofia Wiśniewska".
pub fn search(
    conn: &mut DbConnection,
    event_id: i32,
    query: &str,
    limit: i64,
) -> Result<Vec<Participant>, DbError> {
    let needle = fold_for_search(query.trim()).replace(['%', '_', '\\'], "");
    if needle.is_empty() {
        return Ok(Vec::new());
    }
    let prefix = format!("{needle}%");
    let word = format!("% {needle}%");
    // A row written before names were folded, and not yet folded by
    // `fold_names`, still matches by its lower-cased name.
    let name = || coalesce(participants::name_folded, lower(participants::full_name));
    Ok(participants::table
        .filter(participants::event_id.eq(event_id))
        .filter(
            name()
                .like(&prefix)
                .or(name().like(&word))
                .or(participants::email.like(&prefix)),
        )
        .order((participants::full_name, participants::id))
        .limit(limit)
        .select(Participant::as_select())
        .load(conn)?)
}

/// The event's participants, by name: all of them, or those matching `query`.
pub fn list(
    conn: &mut DbConnection,
    event_id: i32,
    query: &str,
    limit: i64,
) -> Result<Vec<Participant>, DbError> {
    if !query.trim().is_empty() {
        return search(conn, event_id, query, limit);
    }
    Ok(participants::table
        .filter(participants::event_id.eq(event_id))
        .order((participants::full_name, participants::id))
        .limit(limit)
        .select(Participant::as_select())
        .load(conn)?)
}

/// Folds the names of participants written before `name_folded` existed
/// (or inserted by hand), a thousand at a time; how many it folded. Run
/// at start-up: on a database with none left it reads one empty index.
pub fn fold_names(conn: &mut DbConnection) -> Result<usize, DbError> {
    let mut folded = 0;
    loop {
        let unfolded: Vec<(i32, String)> = participants::table
            .filter(participants::name_folded.is_null())
            .select((participants::id, participants::full_name))
            .order(participants::id)
            .limit(1000)
            .load(conn)?;
        if unfolded.is_empty() {
            return Ok(folded);
        }
        super::write_transaction(conn, |conn| {
            for (id, name) in &unfolded {
                diesel::update(participants::table.find(id))
                    .set(participants::name_folded.eq(fold_for_search(name)))
                    .execute(conn)?;
            }
            Ok::<_, DbError>(())
        })?;
        folded += unfolded.len();
    }
}

/// Participants of an event whose personal data was erased.
pub fn count_erased(conn: &mut DbConnection, event_id: i32) -> Result<i64, DbError> {
    Ok(participants::table
        .filter(participants::event_id.eq(event_id))
        .filter(participants::anonymised_at.is_not_null())
        .count()
        .get_result(conn)?)
}

pub fn count_in_event(conn: &mut DbConnection, event_id: i32) -> Result<i64, DbError> {
    Ok(participants::table
        .filter(participants::event_id.eq(event_id))
        .count()
        .get_result(conn)?)
}

pub fn find_in_event(
    conn: &mut DbConnection,
    event_id: i32,
    id: i32,
) -> Result<Option<Participant>, DbError> {
    Ok(participants::table
        .filter(participants::event_id.eq(event_id))
        .filter(participants::id.eq(id))
        .select(Participant::as_select())
        .first(conn)
        .optional()?)
}

#[derive(Debug, PartialEq, Eq)]
pub enum EditOutcome {
    Saved,
    EmailTaken,
    /// The new mode can't take a seat in this session (room-only, online).
    SeatImpossible(String),
}

/// Corrects a registration. A change of mode moves the person's seats
/// (capacity is not re-checked: an organiser may overbook on purpose).
pub fn update_details(
    conn: &mut DbConnection,
    participant_id: i32,
    edit: &PersonDetails,
) -> Result<EditOutcome, DbError> {
    let result = super::write_transaction::<_, Refusal<EditOutcome>, _>(conn, |conn| {
        let updated = diesel::update(participants::table.find(participant_id))
            .set((
                participants::full_name.eq(edit.full_name.as_str()),
                participants::name_folded.eq(edit.full_name.folded()),
                participants::email.eq(edit.email.as_str()),
                participants::affiliation.eq(edit.affiliation.as_str()),
                participants::country.eq(edit.country.code()),
                participants::mode.eq(edit.mode.as_str()),
                participants::category.eq(edit.category.as_str()),
            ))
            .execute(conn);
        match updated {
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(Refusal::Stop(EditOutcome::EmailTaken))
            }
            other => other?,
        };
        let chosen: Vec<AgendaSession> = participant_sessions::table
            .inner_join(agenda_sessions::table)
            .filter(participant_sessions::participant_id.eq(participant_id))
            .select(AgendaSession::as_select())
            .load(conn)?;
        for session in chosen {
            let seat = session
                .format()
                .seat_for(edit.mode)
                .ok_or_else(|| Refusal::Stop(EditOutcome::SeatImpossible(session.title.clone())))?;
            diesel::update(
                participant_sessions::table
                    .filter(participant_sessions::participant_id.eq(participant_id))
                    .filter(participant_sessions::session_id.eq(session.id)),
            )
            .set(participant_sessions::seat.eq(seat.as_str()))
            .execute(conn)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(EditOutcome::Saved),
        Err(Refusal::Stop(outcome)) => Ok(outcome),
        Err(Refusal::Db(e)) => Err(e),
    }
}

/// Cancels a registration by id (the organisers' side of `cancel`, in a
/// write transaction for the same reason).
pub fn cancel_by_id(
    conn: &mut DbConnection,
    event_id: i32,
    id: i32,
    now_ms: i64,
) -> Result<bool, DbError> {
    super::write_transaction(conn, |conn| {
        let changed = diesel::update(
            participants::table
                .filter(participants::id.eq(id))
                .filter(participants::event_id.eq(event_id))
                .filter(participants::status.eq("registered")),
        )
        .set((
            participants::status.eq("cancelled"),
            participants::cancelled_at.eq(Some(now_ms)),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A participant stored before names were folded (or by hand) is found
    /// with the accents typed until start-up folds the name; then without.
    #[test]
    fn names_stored_before_folding_are_found_without_accents_once_folded() {
        let mut conn = crate::db::testing::forum(
            ":memory:",
            "INSERT INTO participants (id, event_id, full_name, email, affiliation, country, mode, \
                                       category, status, checkin_code, page_token, created_at) \
             VALUES (1, 1, 'Zofia Wiśniewska', 'z@x', '', 'PL', 'offline', 'delegate', \
                     'registered', 'c1', 't1', 0);",
        );
        let found = |conn: &mut DbConnection, q: &str| -> Vec<String> {
            search(conn, 1, q, 10)
                .unwrap()
                .into_iter()
                .map(|p| p.full_name)
                .collect()
        };
        assert_eq!(found(&mut conn, "Zofia"), ["Zofia Wiśniewska"]);
        assert!(found(&mut conn, "wisn").is_empty());

        assert_eq!(fold_names(&mut conn).unwrap(), 1);
        for typed in ["wisn", "Wiśn", "WISNIEWSKA", "zofia wis"] {
            assert_eq!(found(&mut conn, typed), ["Zofia Wiśniewska"], "{typed}");
        }
        assert_eq!(fold_names(&mut conn).unwrap(), 0, "nothing left to fold");
    }
}
