//! Online attendance: join links and who is watching a session's stream.

use super::attendance::AttendanceRow;
use super::events::AgendaSession;
use super::schema::{
    agenda_sessions, attendance, events, participant_sessions, participants, watching,
};
use super::{DbConnection, DbError};
use crate::domain::{AttendanceMode, AttendanceSource, PageToken};
use crate::with_backend;
use diesel::prelude::*;
use diesel::upsert::excluded;

/// Someone seen on a watch page within this long counts as watching now.
pub const PRESENCE_WINDOW_MS: i64 = 20_000;

/// A participant and one session of their event, found from the personal
/// token and the session slug in one indexed query.
pub struct JoinContext {
    pub participant_id: i32,
    pub event_id: i32,
    pub cancelled: bool,
    pub registered_for_session: bool,
    pub session: AgendaSession,
    pub timezone: String,
}

pub fn join_context(
    conn: &mut DbConnection,
    token: &PageToken,
    slug: &str,
) -> Result<Option<JoinContext>, DbError> {
    let found: Option<(i32, i32, String, AgendaSession, Option<i32>, String)> = participants::table
        .inner_join(events::table)
        .inner_join(agenda_sessions::table.on(agenda_sessions::event_id.eq(participants::event_id)))
        .left_join(
            participant_sessions::table.on(participant_sessions::participant_id
                .eq(participants::id)
                .and(participant_sessions::session_id.eq(agenda_sessions::id))),
        )
        .filter(participants::page_token.eq(token.as_str()))
        .filter(agenda_sessions::slug.eq(slug))
        .select((
            participants::id,
            participants::event_id,
            participants::status,
            AgendaSession::as_select(),
            participant_sessions::session_id.nullable(),
            events::timezone,
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(
        |(participant_id, event_id, status, session, registered, timezone)| JoinContext {
            participant_id,
            event_id,
            cancelled: status == "cancelled",
            registered_for_session: registered.is_some(),
            session,
            timezone,
        },
    ))
}

/// Why someone may not join a session now (nothing is recorded).
pub enum JoinRefusal {
    /// Outside the joining window.
    NotOpen {
        opens_at: i64,
        closes_at: i64,
    },
    NotRegistered,
    Cancelled,
    /// The session has no stream (in person only).
    NoStream,
}

/// Whether this person may join the session now: the stream to send them
/// to, or why not (nothing is recorded either way).
pub fn may_join(context: &JoinContext, now: i64) -> Result<String, JoinRefusal> {
    if context.cancelled {
        return Err(JoinRefusal::Cancelled);
    }
    if !context.registered_for_session {
        return Err(JoinRefusal::NotRegistered);
    }
    let Some(stream_url) = context
        .session
        .stream_url
        .clone()
        .filter(|_| context.session.is_online())
    else {
        return Err(JoinRefusal::NoStream);
    };
    let (opens_at, closes_at) = context.session.join_window();
    if now < opens_at || now > closes_at {
        return Err(JoinRefusal::NotOpen {
            opens_at,
            closes_at,
        });
    }
    Ok(stream_url)
}

/// A join that may happen, to be recorded by the join writer.
pub struct JoinRequest {
    pub event_id: i32,
    pub participant_id: i32,
    pub session_id: i32,
    pub at: i64,
}

/// Records a batch of joins in one transaction and one statement (the join
/// writer's `DecideBatch`): online attendance once per person and session,
/// an existing record (even in person) left as it is. `true` where the join
/// counted someone new.
pub fn record_joins(conn: &mut DbConnection, joins: &[JoinRequest]) -> Result<Vec<bool>, DbError> {
    // Key order, so two writers' inserts wait for each other rather than
    // deadlock; one row per person and session.
    let mut rows: Vec<AttendanceRow> = joins
        .iter()
        .map(|join| AttendanceRow {
            event_id: join.event_id,
            participant_id: join.participant_id,
            session_id: Some(join.session_id),
            mode: AttendanceMode::Online.as_str(),
            source: AttendanceSource::JoinLink.as_str(),
            door: None,
            recorded_by: None,
            recorded_at: join.at,
        })
        .collect();
    rows.sort_by_key(|r| (r.participant_id, r.session_id));
    rows.dedup_by_key(|r| (r.participant_id, r.session_id));
    super::keyed_write_transaction(conn, |conn| {
        let inserted: Vec<(i32, Option<i32>)> =
            with_backend!(conn, |c| diesel::insert_into(attendance::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .returning((attendance::participant_id, attendance::session_id))
                .get_results(c))?;
        // The first request of each newly recorded pair counted someone.
        let mut answered = std::collections::HashSet::new();
        let counted: Vec<bool> = joins
            .iter()
            .map(|j| {
                let key = (j.participant_id, Some(j.session_id));
                inserted.contains(&key) && answered.insert(key)
            })
            .collect();
        let mut events: Vec<i32> = joins
            .iter()
            .zip(&counted)
            .filter(|(_, counted)| **counted)
            .map(|(j, _)| j.event_id)
            .collect();
        events.sort_unstable();
        events.dedup();
        for event_id in events {
            super::notify_live(conn, event_id)?;
        }
        Ok(counted)
    })
}

/// Time a participant spent on a session's watch page since the last flush.
pub struct Watched {
    pub participant_id: i32,
    pub session_id: i32,
    pub event_id: i32,
    pub seconds: i64,
}

/// Adds watched time and marks these participants as seen now, in one
/// transaction (the hub flushes every few seconds, not per heartbeat).
pub fn record_watching(
    conn: &mut DbConnection,
    watched: &[Watched],
    now: i64,
) -> Result<(), DbError> {
    super::write_transaction(conn, |conn| {
        for w in watched {
            with_backend!(conn, |c| diesel::insert_into(watching::table)
                .values((
                    watching::participant_id.eq(w.participant_id),
                    watching::session_id.eq(w.session_id),
                    watching::event_id.eq(w.event_id),
                    watching::seconds_watched.eq(w.seconds),
                    watching::last_seen.eq(now),
                ))
                .on_conflict((watching::participant_id, watching::session_id))
                .do_update()
                .set((
                    watching::seconds_watched
                        .eq(watching::seconds_watched + excluded(watching::seconds_watched)),
                    watching::last_seen.eq(excluded(watching::last_seen)),
                ))
                .execute(c))?;
        }
        let mut events: Vec<i32> = watched.iter().map(|w| w.event_id).collect();
        events.sort_unstable();
        events.dedup();
        for event_id in events {
            super::notify_live(conn, event_id)?;
        }
        Ok(())
    })
}

/// Counts a participant out at once when their last watch tab closes.
pub fn left(
    conn: &mut DbConnection,
    participant_id: i32,
    session_id: i32,
    event_id: i32,
    now: i64,
) -> Result<(), DbError> {
    diesel::update(
        watching::table
            .filter(watching::participant_id.eq(participant_id))
            .filter(watching::session_id.eq(session_id)),
    )
    .set(watching::last_seen.eq(now - PRESENCE_WINDOW_MS - 1))
    .execute(conn)?;
    super::notify_live(conn, event_id)?;
    Ok(())
}
