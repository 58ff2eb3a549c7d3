//! Online attendance: join links and who is watching a session's stream.

use super::attendance::AttendanceRow;
use super::events::AgendaSession;
use super::in_batch::in_batch;
use super::schema::{events, participant_sessions, participants, watching};
use super::{DbConnection, DbError};
use crate::domain::{AttendanceMode, AttendanceSource, PageToken};
use crate::with_backend;
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::collections::{HashMap, HashSet};

/// Someone seen on a watch page within this long counts as watching now.
pub const PRESENCE_WINDOW_MS: i64 = 20_000;

/// A participant and one session of their event, found from the personal
/// token and the session slug by index.
#[derive(Clone)]
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
    let mut found = join_contexts(conn, &[(token.as_str(), slug)])?;
    Ok(found.remove(&(token.as_str().to_string(), slug.to_string())))
}

/// The [`JoinContext`] of every (personal token, session slug) pair that
/// exists, by pair. Four reads of one table each, by index, rather than
/// one join of the four: a join writer's reads are planned afresh every
/// batch on PostgreSQL ([`super::keyed_write_transaction`]), and planning
/// the join took ~0.45 ms a batch against ~0.03 ms for a one-table read,
/// about a quarter of PostgreSQL's CPU in a keynote burst whose
/// batches held one join each (BENCHMARKS.md, history 57).
fn join_contexts(
    conn: &mut DbConnection,
    pairs: &[(&str, &str)],
) -> Result<HashMap<(String, String), JoinContext>, DbError> {
    let tokens: Vec<&str> = pairs.iter().map(|(token, _)| *token).collect();
    let people: Vec<(String, i32, i32, String)> = participants::table
        .filter(in_batch(participants::page_token, tokens))
        .select((
            participants::page_token,
            participants::id,
            participants::event_id,
            participants::status,
        ))
        .load(conn)?;
    if people.is_empty() {
        return Ok(HashMap::new());
    }
    let person_ids: Vec<i32> = people.iter().map(|p| p.1).collect();
    let mut event_ids: Vec<i32> = people.iter().map(|p| p.2).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let slugs: Vec<&str> = pairs.iter().map(|(_, slug)| *slug).collect();

    let sessions = super::events::sessions_named(conn, event_ids.clone(), slugs)?;
    let timezones: HashMap<i32, String> = events::table
        .filter(in_batch(events::id, event_ids))
        .select((events::id, events::timezone))
        .load::<(i32, String)>(conn)?
        .into_iter()
        .collect();
    let session_ids: Vec<i32> = sessions.iter().map(|s| s.id).collect();
    let registered: HashSet<(i32, i32)> = if session_ids.is_empty() {
        HashSet::new()
    } else {
        participant_sessions::table
            .filter(in_batch(participant_sessions::participant_id, person_ids))
            .filter(in_batch(participant_sessions::session_id, session_ids))
            .select((
                participant_sessions::participant_id,
                participant_sessions::session_id,
            ))
            .load::<(i32, i32)>(conn)?
            .into_iter()
            .collect()
    };

    let people: HashMap<&str, (i32, i32, &str)> = people
        .iter()
        .map(|(token, id, event_id, status)| (token.as_str(), (*id, *event_id, status.as_str())))
        .collect();
    let sessions: HashMap<(i32, &str), &AgendaSession> = sessions
        .iter()
        .map(|s| ((s.event_id, s.slug.as_str()), s))
        .collect();
    let mut found = HashMap::new();
    for (token, slug) in pairs {
        let Some(&(participant_id, event_id, status)) = people.get(token) else {
            continue;
        };
        let (Some(session), Some(timezone)) =
            (sessions.get(&(event_id, *slug)), timezones.get(&event_id))
        else {
            continue;
        };
        found.insert(
            (token.to_string(), slug.to_string()),
            JoinContext {
                participant_id,
                event_id,
                cancelled: super::participants::is_cancelled(status),
                registered_for_session: registered.contains(&(participant_id, session.id)),
                session: (*session).clone(),
                timezone: timezone.clone(),
            },
        );
    }
    Ok(found)
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

/// A join link followed: whose personal link, which session, when.
pub struct JoinAsk {
    pub token: PageToken,
    pub slug: String,
    pub at: i64,
}

/// What the join writer found and did for one [`JoinAsk`].
pub struct JoinOutcome {
    pub context: JoinContext,
    /// The stream to send them to, or why not (then nothing was recorded).
    pub joined: Result<String, JoinRefusal>,
    /// The join counted someone who wasn't counted for the session yet.
    pub newly_counted: bool,
}

/// Decides and records a batch of joins (the join writer's `DecideBatch`):
/// the people and sessions are found in one statement, each checked
/// against its window, and the joins that may happen are written in one
/// more: online attendance once per person and session, an existing record
/// (even in person) left as it is. `None` where there is no such person or
/// session.
pub fn record_joins(
    conn: &mut DbConnection,
    asks: &[JoinAsk],
) -> Result<Vec<Option<JoinOutcome>>, DbError> {
    let pairs: Vec<(&str, &str)> = asks
        .iter()
        .map(|ask| (ask.token.as_str(), ask.slug.as_str()))
        .collect();
    let find = |conn: &mut DbConnection| join_contexts(conn, &pairs);
    super::keyed_write_transaction(conn, find, |conn, found| {
        let mut outcomes: Vec<Option<JoinOutcome>> = asks
            .iter()
            .map(|ask| {
                let key = (ask.token.as_str().to_string(), ask.slug.clone());
                found.get(&key).map(|context| JoinOutcome {
                    joined: may_join(context, ask.at),
                    context: context.clone(),
                    newly_counted: false,
                })
            })
            .collect();
        let rows: Vec<AttendanceRow> = outcomes
            .iter()
            .zip(asks)
            .filter_map(|(outcome, ask)| {
                let c = &outcome.as_ref().filter(|o| o.joined.is_ok())?.context;
                Some(AttendanceRow {
                    event_id: c.event_id,
                    participant_id: c.participant_id,
                    session_id: Some(c.session.id),
                    mode: AttendanceMode::Online.as_str(),
                    source: AttendanceSource::JoinLink.as_str(),
                    door: None,
                    recorded_by: None,
                    recorded_at: ask.at,
                    scan_id: None,
                })
            })
            .collect();
        if rows.is_empty() {
            return Ok(outcomes);
        }
        let inserted: HashSet<(i32, Option<i32>)> = super::attendance::insert_new(conn, rows)?
            .into_iter()
            .collect();
        // The first ask of each newly recorded pair counted someone.
        let mut answered = HashSet::new();
        for outcome in outcomes.iter_mut().flatten().filter(|o| o.joined.is_ok()) {
            let key = (
                outcome.context.participant_id,
                Some(outcome.context.session.id),
            );
            if inserted.contains(&key) && answered.insert(key) {
                outcome.newly_counted = true;
            }
        }
        Ok(outcomes)
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
        Ok(())
    })
}

/// Counts a participant out at once when their last watch tab closes.
pub fn left(
    conn: &mut DbConnection,
    participant_id: i32,
    session_id: i32,
    now: i64,
) -> Result<(), DbError> {
    diesel::update(
        watching::table
            .filter(watching::participant_id.eq(participant_id))
            .filter(watching::session_id.eq(session_id)),
    )
    .set(watching::last_seen.eq(now - PRESENCE_WINDOW_MS - 1))
    .execute(conn)?;
    Ok(())
}
