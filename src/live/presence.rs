//! Who has a session's watch page open: one count per participant however
//! many tabs, minutes accumulated and flushed to the database in batches.

use super::hub::Hub;
use crate::db::{self, online::Watched, Pool};
use actix::prelude::*;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How often watched time and "seen now" go to the database.
pub const FLUSH: Duration = Duration::from_secs(5);

#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchStart {
    pub socket: u64,
    pub participant_id: i32,
    pub session_id: i32,
    pub event_id: i32,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchStop {
    pub socket: u64,
    pub participant_id: i32,
    pub session_id: i32,
}

struct Watcher {
    event_id: i32,
    sockets: HashSet<u64>,
    /// Time watched since this instant has not been written yet.
    unflushed_since: Instant,
}

#[derive(Default)]
pub struct Presence {
    watchers: HashMap<(i32, i32), Watcher>,
}

impl Watcher {
    /// Whole seconds watched since the last flush; the remainder carries over.
    fn take_seconds(&mut self) -> i64 {
        let seconds = self.unflushed_since.elapsed().as_secs();
        self.unflushed_since += Duration::from_secs(seconds);
        seconds as i64
    }
}

impl Presence {
    /// The first tab of a participant: returns the row to write at once so
    /// "watching now" rises without waiting for the next flush.
    pub fn start(&mut self, msg: WatchStart) -> Option<Watched> {
        let key = (msg.participant_id, msg.session_id);
        let watcher = self.watchers.entry(key).or_insert_with(|| Watcher {
            event_id: msg.event_id,
            sockets: HashSet::new(),
            unflushed_since: Instant::now(),
        });
        let first = watcher.sockets.is_empty();
        watcher.sockets.insert(msg.socket);
        first.then_some(Watched {
            participant_id: msg.participant_id,
            session_id: msg.session_id,
            event_id: msg.event_id,
            seconds: 0,
        })
    }

    /// The last tab closed: returns the final time to write.
    pub fn stop(&mut self, msg: WatchStop) -> Option<Watched> {
        let key = (msg.participant_id, msg.session_id);
        let watcher = self.watchers.get_mut(&key)?;
        watcher.sockets.remove(&msg.socket);
        if !watcher.sockets.is_empty() {
            return None;
        }
        let mut watcher = self.watchers.remove(&key)?;
        Some(Watched {
            participant_id: key.0,
            session_id: key.1,
            event_id: watcher.event_id,
            seconds: watcher.take_seconds(),
        })
    }

    /// Everyone watching, with the time since the last flush.
    pub fn flush(&mut self) -> Vec<Watched> {
        self.watchers
            .iter_mut()
            .map(|((participant_id, session_id), w)| Watched {
                participant_id: *participant_id,
                session_id: *session_id,
                event_id: w.event_id,
                seconds: w.take_seconds(),
            })
            .collect()
    }
}

/// Stores watched time (and, when `gone`, that they left) on the blocking
/// pool.
pub async fn store(pool: Pool, watched: Vec<Watched>, gone: bool) -> Result<(), db::DbError> {
    if watched.is_empty() {
        return Ok(());
    }
    db::run(&pool, move |conn| {
        let now = db::now_ms();
        db::online::record_watching(conn, &watched, now)?;
        if gone {
            for w in &watched {
                db::online::left(conn, w.participant_id, w.session_id, now)?;
            }
        }
        Ok(())
    })
    .await
}

/// Writes watched time off the executor, then refreshes the dashboards.
pub fn write(hub: &mut Hub, ctx: &mut Context<Hub>, watched: Vec<Watched>, gone: bool) {
    if watched.is_empty() {
        return;
    }
    let events: Vec<i32> = watched.iter().map(|w| w.event_id).collect();
    let work = store(hub.pool().clone(), watched, gone);
    ctx.spawn(work.into_actor(hub).map(move |result, hub, _| {
        if let Err(error) = result {
            tracing::warn!(%error, "watched time could not be written");
        }
        for event_id in events {
            hub.changed_here(event_id);
        }
    }));
}
