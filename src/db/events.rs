//! Events and their agenda sessions, and the seat counts the programme shows.

use super::in_batch::in_batch;
use super::schema::{agenda_sessions, events, session_seats};
use super::{DbConnection, DbError};
use crate::domain::{AttendanceMode, SessionChoice, SessionFormat};
use diesel::prelude::*;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: i32,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub timezone: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub checkin_grace_minutes: i32,
}

impl Event {
    pub fn grace_ms(&self) -> i64 {
        i64::from(self.checkin_grace_minutes) * 60_000
    }
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub venue: &'a str,
    pub timezone: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = agenda_sessions)]
pub struct AgendaSession {
    pub id: i32,
    pub event_id: i32,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub room: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub format: String,
    pub capacity_offline: Option<i32>,
    pub capacity_online: Option<i32>,
    pub stream_url: Option<String>,
    pub members_only: bool,
    pub join_opens_minutes: i32,
    pub join_closes_minutes: i32,
    pub online_min_minutes: i32,
}

impl AgendaSession {
    /// When join links for this session work: [opens, closes] in epoch ms.
    pub fn join_window(&self) -> (i64, i64) {
        (
            self.starts_at - i64::from(self.join_opens_minutes) * 60_000,
            self.ends_at + i64::from(self.join_closes_minutes) * 60_000,
        )
    }

    pub fn is_online(&self) -> bool {
        self.format() != SessionFormat::InPerson && self.stream_url.is_some()
    }

    pub fn format(&self) -> SessionFormat {
        // The column is CHECK-constrained to the three stored names.
        SessionFormat::parse(&self.format).unwrap_or(SessionFormat::Hybrid)
    }

    pub fn capacity(&self, seat: AttendanceMode) -> Option<i32> {
        match seat {
            AttendanceMode::Offline => self.capacity_offline,
            AttendanceMode::Online => self.capacity_online,
        }
    }

    pub fn as_choice(&self) -> SessionChoice {
        SessionChoice {
            id: self.id,
            slug: self.slug.clone(),
            title: self.title.clone(),
            format: self.format(),
            members_only: self.members_only,
        }
    }
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = agenda_sessions)]
pub struct NewAgendaSession<'a> {
    pub event_id: i32,
    pub slug: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub room: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub format: &'a str,
    pub capacity_offline: Option<i32>,
    pub capacity_online: Option<i32>,
    pub stream_url: Option<&'a str>,
    pub members_only: bool,
}

pub fn list_events(conn: &mut DbConnection) -> Result<Vec<Event>, DbError> {
    Ok(events::table
        .order((events::starts_at.desc(), events::id))
        .select(Event::as_select())
        .load(conn)?)
}

pub fn find_event(conn: &mut DbConnection, slug: &str) -> Result<Option<Event>, DbError> {
    Ok(events::table
        .filter(events::slug.eq(slug))
        .select(Event::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_session(
    conn: &mut DbConnection,
    event_id: i32,
    slug: &str,
) -> Result<Option<AgendaSession>, DbError> {
    Ok(agenda_sessions::table
        .filter(agenda_sessions::event_id.eq(event_id))
        .filter(agenda_sessions::slug.eq(slug))
        .select(AgendaSession::as_select())
        .first(conn)
        .optional()?)
}

/// The sessions of these events named by these slugs, in one statement:
/// a batch's sessions (door scans, join links).
pub fn sessions_named(
    conn: &mut DbConnection,
    event_ids: Vec<i32>,
    slugs: Vec<&str>,
) -> Result<Vec<AgendaSession>, DbError> {
    if event_ids.is_empty() || slugs.is_empty() {
        return Ok(Vec::new());
    }
    // No `load_each_of!` and no `event_id = ?`: an equality on a bound
    // value lets SQLite's planner look the value up in ANALYZE's samples,
    // and then it prepares the statement again for every new value.
    Ok(crate::load_direct!(
        conn,
        agenda_sessions::table
            .filter(in_batch(agenda_sessions::event_id, event_ids))
            .filter(in_batch(agenda_sessions::slug, slugs))
            .select(AgendaSession::as_select())
    )?)
}

/// The event's sessions in programme order (parallel sessions next to each other).
pub fn sessions_of(conn: &mut DbConnection, event_id: i32) -> Result<Vec<AgendaSession>, DbError> {
    Ok(agenda_sessions::table
        .filter(agenda_sessions::event_id.eq(event_id))
        .order((agenda_sessions::starts_at, agenda_sessions::id))
        .select(AgendaSession::as_select())
        .load(conn)?)
}

/// Seats taken by live registrations: (session id, seat, count). Read from
/// `session_seats`, which triggers keep as seats are taken and given back:
/// counting them here joined every seat to its participant, half a second
/// at 100,000 people, and the registration page asks on every view.
pub fn seats_taken(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<Vec<(i32, AttendanceMode, i64)>, DbError> {
    let rows: Vec<(i32, String, i64)> = session_seats::table
        .inner_join(agenda_sessions::table)
        .filter(agenda_sessions::event_id.eq(event_id))
        .filter(session_seats::taken.gt(0))
        .select((
            session_seats::session_id,
            session_seats::seat,
            session_seats::taken,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, seat, n)| AttendanceMode::parse(&seat).ok().map(|s| (id, s, n)))
        .collect())
}

pub fn insert_event(conn: &mut DbConnection, event: &NewEvent) -> Result<i32, DbError> {
    diesel::insert_into(events::table)
        .values(event)
        .execute(conn)?;
    Ok(events::table
        .filter(events::slug.eq(event.slug))
        .select(events::id)
        .first(conn)?)
}

pub fn insert_session(conn: &mut DbConnection, session: &NewAgendaSession) -> Result<i32, DbError> {
    diesel::insert_into(agenda_sessions::table)
        .values(session)
        .execute(conn)?;
    Ok(agenda_sessions::table
        .filter(agenda_sessions::event_id.eq(session.event_id))
        .filter(agenda_sessions::slug.eq(session.slug))
        .select(agenda_sessions::id)
        .first(conn)?)
}

/// Saving would reuse a slug already taken.
#[derive(Debug)]
pub struct SlugTaken;

fn unique_violation<T>(result: diesel::QueryResult<T>) -> Result<Result<T, SlugTaken>, DbError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(Err(SlugTaken)),
        Err(e) => Err(e.into()),
    }
}

/// Creates (`id` None) or updates an event; returns its id.
pub fn save_event(
    conn: &mut DbConnection,
    id: Option<i32>,
    event: &crate::domain::programme::ValidEvent,
    now: i64,
) -> Result<Result<i32, SlugTaken>, DbError> {
    let values = (
        events::slug.eq(&event.slug),
        events::title.eq(&event.title),
        events::description.eq(&event.description),
        events::venue.eq(&event.venue),
        events::timezone.eq(&event.timezone),
        events::starts_at.eq(event.starts_at),
        events::ends_at.eq(event.ends_at),
        events::checkin_grace_minutes.eq(event.checkin_grace_minutes),
    );
    match id {
        Some(id) => Ok(unique_violation(
            diesel::update(events::table.find(id))
                .set(values)
                .execute(conn),
        )?
        .map(|_| id)),
        None => {
            let inserted = unique_violation(
                diesel::insert_into(events::table)
                    .values((values, events::created_at.eq(now)))
                    .execute(conn),
            )?;
            match inserted {
                Ok(_) => Ok(Ok(events::table
                    .filter(events::slug.eq(&event.slug))
                    .select(events::id)
                    .first(conn)?)),
                Err(taken) => Ok(Err(taken)),
            }
        }
    }
}

pub fn session_by_id(
    conn: &mut DbConnection,
    event_id: i32,
    id: i32,
) -> Result<Option<AgendaSession>, DbError> {
    Ok(agenda_sessions::table
        .filter(agenda_sessions::event_id.eq(event_id))
        .filter(agenda_sessions::id.eq(id))
        .select(AgendaSession::as_select())
        .first(conn)
        .optional()?)
}

/// Creates (`id` None) or updates a session of an event; returns its id.
/// In a write transaction: on PostgreSQL a changed minimum recounts the
/// session's online records by trigger while this holds the session's
/// row, which a door batch checking capacity may want after locking some
/// of those records, and the deadlock's victim must run again.
pub fn save_session(
    conn: &mut DbConnection,
    event_id: i32,
    id: Option<i32>,
    session: &crate::domain::programme::ValidSession,
) -> Result<Result<i32, SlugTaken>, DbError> {
    super::write_transaction(conn, |conn| {
        let values = (
            agenda_sessions::slug.eq(&session.slug),
            agenda_sessions::title.eq(&session.title),
            agenda_sessions::description.eq(&session.description),
            agenda_sessions::room.eq(&session.room),
            agenda_sessions::starts_at.eq(session.starts_at),
            agenda_sessions::ends_at.eq(session.ends_at),
            agenda_sessions::format.eq(session.format.as_str()),
            agenda_sessions::capacity_offline.eq(session.capacity_offline),
            agenda_sessions::capacity_online.eq(session.capacity_online),
            agenda_sessions::stream_url.eq(session.stream_url.as_deref()),
            agenda_sessions::members_only.eq(session.members_only),
            agenda_sessions::join_opens_minutes.eq(session.join_opens_minutes),
            agenda_sessions::join_closes_minutes.eq(session.join_closes_minutes),
            agenda_sessions::online_min_minutes.eq(session.online_min_minutes),
        );
        match id {
            Some(id) => Ok(unique_violation(
                diesel::update(
                    agenda_sessions::table
                        .filter(agenda_sessions::id.eq(id))
                        .filter(agenda_sessions::event_id.eq(event_id)),
                )
                .set(values)
                .execute(conn),
            )?
            .map(|_| id)),
            None => {
                let inserted = unique_violation(
                    diesel::insert_into(agenda_sessions::table)
                        .values((values, agenda_sessions::event_id.eq(event_id)))
                        .execute(conn),
                )?;
                match inserted {
                    Ok(_) => Ok(Ok(agenda_sessions::table
                        .filter(agenda_sessions::event_id.eq(event_id))
                        .filter(agenda_sessions::slug.eq(&session.slug))
                        .select(agenda_sessions::id)
                        .first(conn)?)),
                    Err(taken) => Ok(Err(taken)),
                }
            }
        }
    })
}
