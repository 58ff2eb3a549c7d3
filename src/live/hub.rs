//! The hub: which sockets watch which event, when each event's numbers are
//! stale, and the 100 ms tick that recomputes and pushes them. No business
//! logic here: the numbers come from `db::stats::event_stats`.
//!
//! Fan-out is paced by the sockets themselves: an update goes to
//! [`SHARE`] sockets at a time, the next share when those have written it,
//! and an event's next update only once the last one is out. With 10,000
//! dashboards on two cores, handing out one update takes longer than a
//! tick; queueing the next behind it at every socket doubled the work and
//! froze the doors (a check-in waited 26 s at the median behind the
//! sockets' queue). Now scans coalesce into the next update instead, and a
//! door's request waits behind one share at most.

use super::presence::{self, Presence, WatchStart, WatchStop};
use super::protocol::{self, Diff};
use crate::db::stats::EventStats;
use crate::db::{self, Pool};
use actix::prelude::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
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

/// Sockets handed one update at a time, before waiting for them to write it.
const SHARE: usize = 100;
/// A share not written within this long isn't waited for any more: one
/// socket that stopped being written to (a client whose network went away
/// and whose TCP buffers are full) must not hold every dashboard back. A
/// share normally goes out in a few milliseconds; such a client is closed
/// by the heartbeat within 30 s, or dropped once its mailbox is full.
const STALLED: Duration = Duration::from_millis(500);

/// A serialised message for one socket (shared, serialised once).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Push {
    pub text: Arc<str>,
    /// Dropped once the socket has written the message (or is gone).
    _ticket: Ticket,
}

/// One share of a fan-out: its pushes not yet written. The last to go
/// tells the hub.
struct Share {
    unsent: AtomicUsize,
    event_id: i32,
    number: u64,
    hub: Recipient<Drained>,
}

struct Ticket(Arc<Share>);

impl Ticket {
    fn new(share: &Arc<Share>) -> Ticket {
        share.unsent.fetch_add(1, Ordering::Relaxed);
        Ticket(share.clone())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.unsent.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.hub.do_send(Drained {
                event_id: self.0.event_id,
                share: self.0.number,
            });
        }
    }
}

/// Every socket of a share has written its push.
#[derive(Message)]
#[rtype(result = "()")]
struct Drained {
    event_id: i32,
    share: u64,
}

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
    /// Subscribers that need a snapshot (new, or resyncing); a set, since
    /// each update checks every subscriber against it.
    awaiting: HashSet<u64>,
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
    /// Who still gets what of the update going out, in order.
    outbox: VecDeque<(u64, Arc<str>)>,
    /// The share being written: its number and when it went out.
    in_flight: Option<(u64, Instant)>,
    shares_sent: u64,
    /// When the update going out (or the last one) started.
    fanout_started: Option<Instant>,
}

impl Feed {
    /// Nothing of the last update is left to hand out or to be written.
    fn idle(&self) -> bool {
        self.outbox.is_empty() && self.in_flight.is_none()
    }
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
        let stalled: Vec<i32> = self
            .feeds
            .iter()
            .filter(|(_, f)| f.in_flight.is_some_and(|(_, at)| at.elapsed() >= STALLED))
            .map(|(id, _)| *id)
            .collect();
        for event_id in stalled {
            tracing::warn!(event_id, "dashboards slow to take an update; going on");
            self.send_share(event_id, ctx);
        }
        let due: Vec<(i32, String)> = self
            .feeds
            .iter_mut()
            .filter(|(_, f)| !f.computing && !f.subscribers.is_empty() && f.idle())
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
                    .map(move |result, hub, ctx| hub.publish(event_id, result, ctx)),
            );
        }
    }

    /// Hands the next share of `event_id`'s outbox to its sockets (the
    /// one in flight, if any, is no longer waited for). A socket whose
    /// mailbox is full is too slow: it is dropped (and told to reconnect)
    /// rather than let the hub buffer for it.
    fn send_share(&mut self, event_id: i32, ctx: &mut Context<Self>) {
        let Some(feed) = self.feeds.get_mut(&event_id) else {
            return;
        };
        feed.in_flight = None;
        if feed.outbox.is_empty() {
            return;
        }
        feed.shares_sent += 1;
        let share = Arc::new(Share {
            unsent: AtomicUsize::new(0),
            event_id,
            number: feed.shares_sent,
            hub: ctx.address().recipient(),
        });
        feed.in_flight = Some((share.number, Instant::now()));
        // Held until every push is handed over, so the share can't count
        // as drained halfway.
        let handing_over = Ticket::new(&share);
        let mut gone = Vec::new();
        let take = feed.outbox.len().min(SHARE);
        for (id, text) in feed.outbox.drain(..take) {
            let Some(subscriber) = feed.subscribers.get(&id) else {
                continue;
            };
            let push = Push {
                text,
                _ticket: Ticket::new(&share),
            };
            match subscriber.socket.try_send(push) {
                Ok(()) => {}
                Err(SendError::Full(_)) => {
                    subscriber
                        .closer
                        .do_send(Close("too slow: reconnect to resync"));
                    gone.push(id);
                }
                Err(SendError::Closed(_)) => gone.push(id),
            }
        }
        for id in gone {
            if feed.subscribers.remove(&id).is_some() {
                self.counts.dashboards.fetch_sub(1, Ordering::Relaxed);
            }
        }
        drop(handing_over);
    }

    fn publish(
        &mut self,
        event_id: i32,
        result: Result<EventStats, db::DbError>,
        ctx: &mut Context<Self>,
    ) {
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
                        let waiting = &feed.awaiting;
                        let chosen = feed.subscribers.keys().filter(|id| !waiting.contains(id));
                        let outbox = chosen.map(|id| (*id, message.clone())).collect();
                        feed.outbox = outbox;
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
            feed.outbox
                .extend(waiting.into_iter().map(|id| (id, message.clone())));
        }
        feed.last = Some(stats);
        if !feed.outbox.is_empty() {
            feed.fanout_started = Some(Instant::now());
            self.send_share(event_id, ctx);
        }
    }
}

impl Handler<Drained> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Drained, ctx: &mut Context<Self>) {
        let Some(feed) = self.feeds.get_mut(&msg.event_id) else {
            return;
        };
        if feed.in_flight.map(|(number, _)| number) != Some(msg.share) {
            return; // a share that stalled and was given up on
        }
        if !feed.outbox.is_empty() {
            self.send_share(msg.event_id, ctx);
            return;
        }
        feed.in_flight = None;
        let took_long = feed.fanout_started.is_some_and(|t| t.elapsed() >= TICK);
        // An update that took longer than a tick to hand out: the next
        // one (with what came in meanwhile) needn't wait for a tick too.
        if took_long {
            self.tick(ctx);
        }
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
            awaiting: HashSet::new(),
            last: None,
            computed_at: None,
            seq: 0,
            dirty: true,
            computing: false,
            recent_sent_at: None,
            recent_pending: false,
            outbox: VecDeque::new(),
            in_flight: None,
            shares_sent: 0,
            fanout_started: None,
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
        feed.awaiting.insert(msg.id);
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        if let Some(feed) = self.feeds.get_mut(&msg.event_id) {
            if feed.subscribers.remove(&msg.id).is_some() {
                self.counts.dashboards.fetch_sub(1, Ordering::Relaxed);
            }
            feed.awaiting.remove(&msg.id);
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
            if feed.subscribers.contains_key(&msg.id) {
                feed.awaiting.insert(msg.id);
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
