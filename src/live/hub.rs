//! The hub: which sockets watch which event, when each event's numbers are
//! stale, and the 100 ms tick that recomputes and pushes them. No business
//! logic here: the numbers come from `db::stats::event_stats`.

use super::presence::{self, Presence, WatchStart, WatchStop};
use super::protocol::{self, Diff};
use crate::db::stats::EventStats;
use crate::db::{self, Pool};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Updates go out at most this often per event (and so per client).
const TICK: Duration = Duration::from_millis(100);
/// Recompute even without changes this often: "the last hour" slides.
const REFRESH: Duration = Duration::from_secs(15);
/// The names of recent check-ins go out at most this often: in a door rush
/// they change on every tick, and twenty names ten times a second were most
/// of each update's bytes — more than anyone reads. The numbers still go
/// out every tick.
const RECENT_EVERY: Duration = Duration::from_secs(1);

/// A serialised message for one socket (shared, serialised once).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Push(pub Arc<str>);

/// Tells a socket to close, with the reason it sends to the client.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close(pub &'static str);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub event_id: i32,
    pub slug: String,
    pub id: u64,
    pub socket: Recipient<Push>,
    pub closer: Recipient<Close>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub event_id: i32,
    pub id: u64,
}

/// A client saw a gap in `seq`: it gets a fresh snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync {
    pub event_id: i32,
    pub id: u64,
}

/// Numbers changed at an event (`None`: maybe at any event).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Changed {
    pub event_id: Option<i32>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

struct Subscriber {
    socket: Recipient<Push>,
    closer: Recipient<Close>,
}

struct Feed {
    slug: String,
    subscribers: HashMap<u64, Subscriber>,
    /// Subscribers that need a snapshot (new, or resyncing).
    awaiting: Vec<u64>,
    last: Option<EventStats>,
    computed_at: Option<Instant>,
    seq: u64,
    dirty: bool,
    computing: bool,
    /// When an update last carried recent check-ins.
    recent_sent_at: Option<Instant>,
    /// Newer check-ins wait for [`RECENT_EVERY`]; `last` holds the list
    /// clients have.
    recent_pending: bool,
}

pub struct Hub {
    pool: Pool,
    feeds: HashMap<i32, Feed>,
    presence: Presence,
    counts: Arc<SocketCounts>,
}

/// Sockets open now, kept by the hub, read by /metrics.
#[derive(Debug, Default)]
pub struct SocketCounts {
    pub dashboards: AtomicI64,
    pub watchers: AtomicI64,
}

impl Hub {
    pub fn new(pool: Pool, counts: Arc<SocketCounts>) -> Self {
        Hub {
            pool,
            feeds: HashMap::new(),
            presence: Presence::default(),
            counts,
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let due: Vec<(i32, String)> = self
            .feeds
            .iter_mut()
            .filter(|(_, f)| !f.computing && !f.subscribers.is_empty())
            .filter(|(_, f)| {
                f.dirty
                    || !f.awaiting.is_empty()
                    || f.computed_at.is_none_or(|t| t.elapsed() >= REFRESH)
                    || (f.recent_pending
                        && f.recent_sent_at.is_none_or(|t| t.elapsed() >= RECENT_EVERY))
            })
            .map(|(id, f)| {
                f.computing = true;
                f.dirty = false;
                (*id, f.slug.clone())
            })
            .collect();
        for (event_id, slug) in due {
            let pool = self.pool.clone();
            let work = async move {
                db::run(&pool, move |conn| {
                    db::stats::event_stats(conn, event_id, &slug, db::now_ms())
                })
                .await
            };
            ctx.spawn(
                work.into_actor(self)
                    .map(move |result, hub, _| hub.publish(event_id, result)),
            );
        }
    }

    fn publish(&mut self, event_id: i32, result: Result<EventStats, db::DbError>) {
        let Some(feed) = self.feeds.get_mut(&event_id) else {
            return;
        };
        feed.computing = false;
        let mut stats = match result {
            Ok(stats) => stats,
            Err(error) => {
                tracing::warn!(%error, event_id, "live numbers could not be computed; retrying");
                feed.dirty = true;
                return;
            }
        };
        feed.computed_at = Some(Instant::now());
        let mut everyone_needs_snapshot = false;
        if let Some(old) = feed.last.take() {
            match protocol::diff(&old, &stats) {
                Diff::Same => {}
                Diff::Reset => everyone_needs_snapshot = true,
                Diff::Changes(mut changes) => {
                    if changes.touches_recent() {
                        let due = feed
                            .recent_sent_at
                            .is_none_or(|t| t.elapsed() >= RECENT_EVERY);
                        if due {
                            feed.recent_sent_at = Some(Instant::now());
                            feed.recent_pending = false;
                        } else {
                            changes.drop_recent();
                            stats.recent = old.recent;
                            feed.recent_pending = true;
                        }
                    }
                    if !changes.is_empty() {
                        feed.seq += 1;
                        let message: Arc<str> = protocol::update(feed.seq, &changes).into();
                        let waiting = feed.awaiting.clone();
                        send_all(feed, &message, |id| !waiting.contains(&id));
                    }
                }
            }
        }
        if everyone_needs_snapshot {
            feed.seq += 1;
            feed.awaiting = feed.subscribers.keys().copied().collect();
            feed.recent_pending = false;
        }
        // Newcomers get the same numbers as everyone (recent check-ins
        // included), so the next update applies to them too.
        if !feed.awaiting.is_empty() {
            let message: Arc<str> = protocol::snapshot(feed.seq, &stats).into();
            let waiting = std::mem::take(&mut feed.awaiting);
            send_all(feed, &message, |id| waiting.contains(&id));
        }
        feed.last = Some(stats);
    }
}

/// Sends to the chosen subscribers without waiting. One whose mailbox is
/// full is too slow: it is dropped (and told to reconnect) rather than let
/// the hub buffer for it.
fn send_all(feed: &mut Feed, message: &Arc<str>, chosen: impl Fn(u64) -> bool) {
    let mut gone = Vec::new();
    for (id, subscriber) in feed.subscribers.iter().filter(|(id, _)| chosen(**id)) {
        match subscriber.socket.try_send(Push(message.clone())) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                subscriber
                    .closer
                    .do_send(Close("too slow: reconnect to resync"));
                gone.push(*id);
            }
            Err(SendError::Closed(_)) => gone.push(*id),
        }
    }
    for id in gone {
        feed.subscribers.remove(&id);
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |hub, ctx| hub.tick(ctx));
        ctx.run_interval(presence::FLUSH, |hub, ctx| {
            let watched = hub.presence.flush();
            presence::write(hub, ctx, watched, false);
        });
    }
}

impl Handler<Subscribe> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        let feed = self.feeds.entry(msg.event_id).or_insert_with(|| Feed {
            slug: msg.slug,
            subscribers: HashMap::new(),
            awaiting: Vec::new(),
            last: None,
            computed_at: None,
            seq: 0,
            dirty: true,
            computing: false,
            recent_sent_at: None,
            recent_pending: false,
        });
        let fresh = feed
            .subscribers
            .insert(
                msg.id,
                Subscriber {
                    socket: msg.socket,
                    closer: msg.closer,
                },
            )
            .is_none();
        if fresh {
            self.counts.dashboards.fetch_add(1, Ordering::Relaxed);
        }
        feed.awaiting.push(msg.id);
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        if let Some(feed) = self.feeds.get_mut(&msg.event_id) {
            if feed.subscribers.remove(&msg.id).is_some() {
                self.counts.dashboards.fetch_sub(1, Ordering::Relaxed);
            }
            feed.awaiting.retain(|id| *id != msg.id);
            if feed.subscribers.is_empty() && !feed.computing {
                self.feeds.remove(&msg.event_id);
            }
        }
    }
}

impl Handler<Resync> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Resync, _: &mut Context<Self>) {
        if let Some(feed) = self.feeds.get_mut(&msg.event_id) {
            if feed.subscribers.contains_key(&msg.id) && !feed.awaiting.contains(&msg.id) {
                feed.awaiting.push(msg.id);
            }
        }
    }
}

impl Handler<Changed> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Changed, _: &mut Context<Self>) {
        match msg.event_id {
            Some(id) => {
                if let Some(feed) = self.feeds.get_mut(&id) {
                    feed.dirty = true;
                }
            }
            None => self.feeds.values_mut().for_each(|f| f.dirty = true),
        }
    }
}

impl Handler<Shutdown> for Hub {
    type Result = ResponseFuture<()>;
    /// Closes every dashboard with a reason and writes the watched time
    /// gathered since the last flush; resolves once it is stored.
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        for feed in self.feeds.values_mut() {
            for (_, subscriber) in feed.subscribers.drain() {
                subscriber.closer.do_send(Close("server shutting down"));
                self.counts.dashboards.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.feeds.clear();
        let watched = self.presence.flush();
        let pool = self.pool.clone();
        Box::pin(async move {
            if let Err(error) = presence::store(pool, watched, false).await {
                tracing::warn!(%error, "watched time could not be written at shutdown");
            }
        })
    }
}

impl Handler<WatchStart> for Hub {
    type Result = ();
    fn handle(&mut self, msg: WatchStart, ctx: &mut Context<Self>) {
        self.counts.watchers.fetch_add(1, Ordering::Relaxed);
        if let Some(first) = self.presence.start(msg) {
            presence::write(self, ctx, vec![first], false);
        }
    }
}

impl Handler<WatchStop> for Hub {
    type Result = ();
    fn handle(&mut self, msg: WatchStop, ctx: &mut Context<Self>) {
        self.counts.watchers.fetch_sub(1, Ordering::Relaxed);
        if let Some(last) = self.presence.stop(msg) {
            presence::write(self, ctx, vec![last], true);
        }
    }
}
