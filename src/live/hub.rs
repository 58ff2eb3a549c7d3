//! The hub: which sockets watch which event, when each event's numbers are
//! stale, and the 100 ms tick that recomputes and pushes them. No business
//! logic here: the numbers come from `db::stats::event_stats`.
//!
//! Fan-out goes round the event's dashboards in a fixed cycle, paced by the
//! sockets themselves: the next [`SHARE`] dashboards (by default) that don't
//! hold the newest numbers, the next share when those have written theirs,
//! on round the cycle while any dashboard is behind. Each gets, when its turn
//! comes, one update from the numbers it holds to the newest published (a
//! snapshot if it holds none, or numbers too old to be kept). With 10,000
//! dashboards on two cores one pass round them takes longer than a tick:
//! queueing every update at every socket froze the doors (a check-in waited
//! 26 s at the median behind the sockets' queue), and holding the next update
//! until the last was out made a dashboard wait up to two passes. Rounds that
//! started again from the first dashboard each time did too, for the
//! dashboards last in the order: those visited after the newest numbers came
//! out weren't in the next round, only in the one after (BENCHMARKS.md history
//! 51). Now a dashboard gets one message per pass whatever happened
//! meanwhile, waits up to one pass, and a door's request waits behind one
//! share at most.

use super::presence::{self, Presence, WatchStart, WatchStop};
use super::protocol::{self, Diff};
use super::timings::HubTimings;
use crate::db::stats::{EventStats, RecentCheckin};
use crate::db::{self, Pool};
use actix::prelude::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Updates go out at most this often per event (and so per client).
const TICK: Duration = Duration::from_millis(100);
/// While updates are going out, an event's numbers are recomputed only
/// after waiting this many times as long as the last computation took:
/// with 10,000 dashboards on PostgreSQL, recomputing every tick took the
/// CPU the doors' check-ins need (their p99 went from 50 to 160-270 ms).
/// Twice, not more: a computation is only started at a tick, so on
/// PostgreSQL (four queries of 4-5 ms each for 10,000 participants) five
/// times skipped every other tick and dashboards got numbers 200 ms
/// old (fan-out p99 244-298 ms against 212-247 ms with two; BENCHMARKS.md).
const COMPUTE_SPACING: u32 = 2;
/// While a pass round the dashboards takes longer than a tick, their
/// numbers are recomputed this often (still spaced as above): each
/// dashboard gets one update a pass anyway, so no more than ten a second,
/// and the numbers it gets are fresher. A scan waits for the next
/// computation and then up to a pass; at 10,000 dashboards this cut the
/// fan-out's p99 from 216-243 to 186-195 ms on SQLite and from 323-372 to
/// 284-310 ms on PostgreSQL (BENCHMARKS.md history 51).
const QUICK_TICK: Duration = Duration::from_millis(25);
/// Recompute even without changes this often: "the last hour" slides.
const REFRESH: Duration = Duration::from_secs(15);
/// The names of recent check-ins go out at most this often: in a door rush
/// they change on every tick, and twenty names ten times a second were most
/// of each update's bytes — more than anyone reads. The numbers still go
/// out every tick; in between, computations keep the list the dashboards
/// hold rather than read it again.
const RECENT_EVERY: Duration = Duration::from_secs(1);

/// Sockets handed one update at a time, before waiting for them to write it
/// (`Config::live_share`, this unless told otherwise). 500, not 100: at
/// 10,000 dashboards on two cores a pass in shares of 500 pauses less
/// between shares (fan-out p99 on SQLite 305 against 362 ms on average over
/// seven alternated pairs), while a door's scan waits behind a bigger share
/// (p50 7 against 3 ms, p99 under 30 ms; BENCHMARKS.md history 47).
pub const SHARE: usize = 500;
/// A share not written within this long isn't waited for any more: one
/// socket that stopped being written to (a client whose network went away
/// and whose TCP buffers are full) must not hold every dashboard back. A
/// share normally goes out in a few milliseconds; such a client is closed
/// by the heartbeat within 30 s, or dropped once its mailbox is full.
const STALLED: Duration = Duration::from_millis(500);
/// Published numbers kept per event, so a dashboard a few updates behind
/// gets one update from what it holds rather than a whole snapshot. A
/// pass round 10,000 dashboards takes a few ticks on two cores.
const HISTORY: usize = 32;

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

/// A client got an update for numbers other than those it holds (or lost
/// track): it gets a fresh snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync {
    pub event_id: i32,
    pub id: u64,
}

/// Events whose numbers changed since the hub's last tick (and, as the
/// hub's `to_announce`, events this instance changed since it last told
/// the others). Marked without a message: a door rush changes numbers
/// thousands of times a second, and a message for each woke the hub's
/// thread every time (a syscall and a context switch per scan, 9 % of the
/// HTTP workers' time). The tick reads and clears the marks; updates went
/// out at tick time anyway.
#[derive(Debug, Default)]
pub struct ChangedEvents {
    events: Mutex<HashSet<i32>>,
    /// Maybe anything changed (the PostgreSQL listener reconnected).
    everything: AtomicBool,
}

impl ChangedEvents {
    pub fn mark(&self, event_id: i32) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event_id);
    }

    pub fn mark_everything(&self) {
        self.everything.store(true, Ordering::Release);
    }

    /// The marks since the last call: `None` for "maybe anything".
    fn take(&self) -> Option<HashSet<i32>> {
        let events = std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()));
        if self.everything.swap(false, Ordering::AcqRel) {
            None
        } else {
            Some(events)
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

struct Subscriber {
    socket: Recipient<Push>,
    closer: Recipient<Close>,
    /// The `seq` of the numbers this dashboard holds; `None`: it needs a
    /// snapshot (new, or resyncing).
    has: Option<u64>,
}

struct Feed {
    slug: String,
    subscribers: HashMap<u64, Subscriber>,
    /// The last [`HISTORY`] numbers published, oldest first, by `seq`.
    published: VecDeque<(u64, Arc<EventStats>)>,
    /// The message that brings a dashboard from what it holds to the
    /// newest numbers (`None`: nothing to send), built once per `has`.
    messages: HashMap<Option<u64>, Option<Arc<str>>>,
    computed_at: Option<Instant>,
    /// How long the last computation took, from asking to publishing.
    compute_took: Duration,
    seq: u64,
    dirty: bool,
    computing: bool,
    /// When an update last carried recent check-ins.
    recent_sent_at: Option<Instant>,
    /// The last computation kept the list clients have (the newest published
    /// numbers hold it) rather than read it, so newer check-ins may be
    /// waiting for [`RECENT_EVERY`].
    recent_pending: bool,
    /// Every dashboard once, in the order the fan-out meets them: the
    /// next to look at first. Those gone are dropped when met.
    cycle: VecDeque<u64>,
    /// The share being written: its number and when it went out.
    in_flight: Option<(u64, Instant)>,
    shares_sent: u64,
    /// The pass round the cycle going on: when it began, how many places
    /// it has moved and how many updates it handed out.
    pass: Option<Pass>,
    /// How long the last whole pass that handed out updates took.
    last_pass: Duration,
}

struct Pass {
    began: Instant,
    moved: usize,
    handed: usize,
}

impl Pass {
    fn starting_now() -> Pass {
        Pass {
            began: Instant::now(),
            moved: 0,
            handed: 0,
        }
    }
}

impl Feed {
    fn new(slug: String) -> Self {
        Feed {
            slug,
            subscribers: HashMap::new(),
            published: VecDeque::new(),
            messages: HashMap::new(),
            computed_at: None,
            compute_took: Duration::ZERO,
            seq: 0,
            dirty: true,
            computing: false,
            recent_sent_at: None,
            recent_pending: false,
            cycle: VecDeque::new(),
            in_flight: None,
            shares_sent: 0,
            pass: None,
            last_pass: Duration::ZERO,
        }
    }

    /// Not while the last computation is running; while updates are going
    /// out, not before [`COMPUTE_SPACING`] times its duration has passed.
    fn may_compute(&self) -> bool {
        !self.computing
            && !self.subscribers.is_empty()
            && (self.in_flight.is_none()
                || self
                    .computed_at
                    .is_none_or(|t| t.elapsed() >= self.compute_took * COMPUTE_SPACING))
    }

    /// Updates are going out and a pass takes longer than a tick: the
    /// numbers are recomputed at [`QUICK_TICK`]s too.
    fn outpaced(&self) -> bool {
        self.in_flight.is_some()
            && self.last_pass >= TICK
            && self.computed_at.is_none_or(|t| t.elapsed() >= QUICK_TICK)
    }

    /// The next `share` dashboards round the cycle not holding `seq`; the
    /// cycle moves on past them and past those that hold it, and forgets
    /// those gone. Empty once a whole turn finds everyone up to date. A
    /// pass that handed something out is timed when it has gone round.
    fn next_share(&mut self, seq: u64, share: usize, timings: &HubTimings) -> Vec<u64> {
        let mut visiting = Vec::with_capacity(share.min(self.cycle.len()));
        let pass = self.pass.get_or_insert_with(Pass::starting_now);
        for _ in 0..self.cycle.len() {
            if visiting.len() == share {
                break;
            }
            let Some(id) = self.cycle.pop_front() else {
                break;
            };
            let Some(subscriber) = self.subscribers.get(&id) else {
                continue;
            };
            self.cycle.push_back(id);
            if subscriber.has != Some(seq) {
                visiting.push(id);
                pass.handed += 1;
            }
            pass.moved += 1;
            if pass.moved >= self.subscribers.len() {
                if pass.handed > 0 {
                    self.last_pass = pass.began.elapsed();
                    timings.pass(self.last_pass);
                }
                *pass = Pass::starting_now();
            }
        }
        if visiting.is_empty() {
            self.pass = None;
        }
        visiting
    }

    fn newest(&self) -> Option<&(u64, Arc<EventStats>)> {
        self.published.back()
    }

    /// The recent check-ins the next computation keeps instead of reading
    /// them: those published, until [`RECENT_EVERY`] has passed.
    fn recent_to_keep(&self) -> Option<Vec<RecentCheckin>> {
        let due = self
            .recent_sent_at
            .is_none_or(|t| t.elapsed() >= RECENT_EVERY);
        if due {
            return None;
        }
        self.newest().map(|(_, stats)| stats.recent.clone())
    }

    /// Makes `stats` the newest numbers, under the next `seq`.
    fn publish(&mut self, stats: EventStats) {
        self.seq += 1;
        self.published.push_back((self.seq, Arc::new(stats)));
        if self.published.len() > HISTORY {
            self.published.pop_front();
        }
        self.messages.clear();
    }

    /// What brings a dashboard holding `has` to the newest numbers: an
    /// update from what it holds, a snapshot when those aren't kept (or
    /// can't be changed into the newest), or nothing.
    fn message_for(&mut self, has: Option<u64>) -> Option<Arc<str>> {
        let (seq, newest) = self.newest()?.clone();
        if has == Some(seq) {
            return None;
        }
        if let Some(message) = self.messages.get(&has) {
            return message.clone();
        }
        let held = has.and_then(|k| self.published.iter().find(|(seq, _)| *seq == k));
        let message = match (held, has) {
            (Some((_, old)), Some(since)) => match protocol::diff(old, &newest) {
                Diff::Same => None,
                Diff::Changes(changes) => Some(protocol::update(seq, since, &changes)),
                Diff::Reset => Some(protocol::snapshot(seq, &newest)),
            },
            _ => Some(protocol::snapshot(seq, &newest)),
        }
        .map(Arc::<str>::from);
        self.messages.insert(has, message.clone());
        message
    }
}

pub struct Hub {
    pool: Pool,
    feeds: HashMap<i32, Feed>,
    presence: Presence,
    counts: Arc<SocketCounts>,
    changed: Arc<ChangedEvents>,
    /// PostgreSQL: events changed here, to tell the other instances at the
    /// next tick. Not the listener's marks: those came from the others.
    to_announce: Option<Arc<ChangedEvents>>,
    /// A NOTIFY is on its way; the next waits for it.
    announcing: bool,
    /// Sockets a share hands the update to ([`SHARE`] unless configured).
    share: usize,
    timings: HubTimings,
}

/// Sockets open now, kept by the hub, read by /metrics.
#[derive(Debug, Default)]
pub struct SocketCounts {
    pub dashboards: AtomicI64,
    pub watchers: AtomicI64,
}

impl Hub {
    pub fn new(
        pool: Pool,
        counts: Arc<SocketCounts>,
        changed: Arc<ChangedEvents>,
        to_announce: Option<Arc<ChangedEvents>>,
        share: usize,
        timings: HubTimings,
    ) -> Self {
        Hub {
            pool,
            feeds: HashMap::new(),
            presence: Presence::default(),
            counts,
            changed,
            to_announce,
            announcing: false,
            share: share.max(1),
            timings,
        }
    }

    /// This instance changed numbers at `event_id` (committed): its own
    /// dashboards get them at the next tick, and so do the other instances'.
    pub(super) fn changed_here(&mut self, event_id: i32) {
        self.mark_dirty(Some(event_id));
        if let Some(marks) = &self.to_announce {
            marks.mark(event_id);
        }
    }

    /// Tells the other instances which events this one changed since the
    /// last tick: one NOTIFY per event however many changes, sent after
    /// they were committed, one statement at a time. Notifying inside each
    /// door batch's transaction instead serialised the commits of all of
    /// them on the database (see `db::notify_live`). Not told (PostgreSQL
    /// down): the other instances recompute within [`REFRESH`] anyway.
    fn announce(&mut self, ctx: &mut Context<Self>) {
        let Some(marks) = &self.to_announce else {
            return;
        };
        if self.announcing {
            return;
        }
        // The marks are only ever set one by one, so never "everything".
        let events: Vec<i32> = marks.take().unwrap_or_default().into_iter().collect();
        if events.is_empty() {
            return;
        }
        self.announcing = true;
        let told = tell_others(self.pool.clone(), events);
        ctx.spawn(
            told.into_actor(self)
                .map(|(), hub, _| hub.announcing = false),
        );
    }

    /// Numbers changed at an event (`None`: maybe at any event): its
    /// dashboards get them at the next tick.
    pub(super) fn mark_dirty(&mut self, event_id: Option<i32>) {
        match event_id {
            Some(id) => {
                if let Some(feed) = self.feeds.get_mut(&id) {
                    feed.dirty = true;
                }
            }
            None => self.feeds.values_mut().for_each(|f| f.dirty = true),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        self.announce(ctx);
        self.take_changes();
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
        self.compute_due(|_| true, ctx);
    }

    /// Between ticks, the events whose dashboards a pass takes longer than
    /// a tick to go round.
    fn quick_tick(&mut self, ctx: &mut Context<Self>) {
        if self.feeds.values().any(Feed::outpaced) {
            self.take_changes();
            self.compute_due(Feed::outpaced, ctx);
        }
    }

    fn take_changes(&mut self) {
        match self.changed.take() {
            Some(events) => events.into_iter().for_each(|id| self.mark_dirty(Some(id))),
            None => self.mark_dirty(None),
        }
    }

    /// Starts computing the numbers of the events `wanted` whose numbers
    /// changed (or are due a refresh) and may be computed now.
    fn compute_due(&mut self, wanted: impl Fn(&Feed) -> bool, ctx: &mut Context<Self>) {
        let due: Vec<(i32, String, Option<Vec<RecentCheckin>>)> = self
            .feeds
            .iter_mut()
            .filter(|(_, f)| f.may_compute() && wanted(f))
            .filter(|(_, f)| {
                f.dirty
                    || f.computed_at.is_none_or(|t| t.elapsed() >= REFRESH)
                    || (f.recent_pending
                        && f.recent_sent_at.is_none_or(|t| t.elapsed() >= RECENT_EVERY))
            })
            .map(|(id, f)| {
                f.computing = true;
                f.dirty = false;
                (*id, f.slug.clone(), f.recent_to_keep())
            })
            .collect();
        for (event_id, slug, keep) in due {
            let asked = Instant::now();
            let pool = self.pool.clone();
            let read_recent = keep.is_none();
            let work = async move {
                db::run(&pool, move |conn| {
                    db::stats::event_stats_keeping_recent(conn, event_id, &slug, db::now_ms(), keep)
                })
                .await
            };
            ctx.spawn(work.into_actor(self).map(move |result, hub, ctx| {
                hub.computed(event_id, result, read_recent, asked, ctx)
            }));
        }
    }

    /// Sets the fan-out going round the dashboards not holding the newest
    /// numbers, unless a share is being written (the cycle goes on after it).
    fn hand_out(&mut self, event_id: i32, ctx: &mut Context<Self>) {
        let idle = self
            .feeds
            .get(&event_id)
            .is_some_and(|feed| feed.in_flight.is_none());
        if idle {
            self.send_share(event_id, ctx);
        }
    }

    /// Hands the next share round the cycle to its sockets (the one in
    /// flight, if any, is no longer waited for), each the message from what
    /// it holds to the newest numbers. A socket whose mailbox is full is too
    /// slow: it is dropped (and told to reconnect) rather than let the hub
    /// buffer for it.
    fn send_share(&mut self, event_id: i32, ctx: &mut Context<Self>) {
        let Some(feed) = self.feeds.get_mut(&event_id) else {
            return;
        };
        feed.in_flight = None;
        let Some(&(seq, _)) = feed.newest() else {
            return;
        };
        let visiting = feed.next_share(seq, self.share, &self.timings);
        if visiting.is_empty() {
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
        let mut handed = 0;
        for id in visiting {
            let Some(has) = feed.subscribers.get(&id).map(|s| s.has) else {
                continue;
            };
            let message = feed.message_for(has);
            let Some(subscriber) = feed.subscribers.get_mut(&id) else {
                continue;
            };
            subscriber.has = Some(seq);
            let Some(text) = message else {
                continue;
            };
            let push = Push {
                text,
                _ticket: Ticket::new(&share),
            };
            match subscriber.socket.try_send(push) {
                Ok(()) => handed += 1,
                Err(SendError::Full(_)) => {
                    subscriber
                        .closer
                        .do_send(Close("too slow: reconnect to resync"));
                    gone.push(id);
                }
                Err(SendError::Closed(_)) => gone.push(id),
            }
        }
        self.timings.handed(handed);
        for id in gone {
            if feed.subscribers.remove(&id).is_some() {
                self.counts.dashboards.fetch_sub(1, Ordering::Relaxed);
            }
        }
        drop(handing_over);
    }

    /// An event's numbers came back: published if they changed, and handed
    /// out.
    fn computed(
        &mut self,
        event_id: i32,
        result: Result<EventStats, db::DbError>,
        read_recent: bool,
        asked: Instant,
        ctx: &mut Context<Self>,
    ) {
        let Some(feed) = self.feeds.get_mut(&event_id) else {
            return;
        };
        feed.computing = false;
        feed.compute_took = asked.elapsed();
        self.timings.computation(feed.compute_took);
        if feed.subscribers.is_empty() {
            // The last dashboard left while this was computed.
            self.feeds.remove(&event_id);
            return;
        }
        let stats = match result {
            Ok(stats) => stats,
            Err(error) => {
                tracing::warn!(%error, event_id, "live numbers could not be computed; retrying");
                feed.dirty = true;
                return;
            }
        };
        feed.computed_at = Some(Instant::now());
        feed.recent_pending = !read_recent;
        match feed.newest().map(|(_, old)| old.clone()) {
            None => feed.publish(stats),
            Some(old) => match protocol::diff(&old, &stats) {
                Diff::Same => {}
                Diff::Reset => {
                    // Nothing held can be changed into these numbers:
                    // everyone gets a snapshot.
                    feed.published.clear();
                    feed.publish(stats);
                }
                Diff::Changes(changes) => {
                    // Only when read: a kept list is the one published.
                    if changes.touches_recent() {
                        feed.recent_sent_at = Some(Instant::now());
                    }
                    if !changes.is_empty() {
                        feed.publish(stats);
                    }
                }
            },
        }
        self.hand_out(event_id, ctx);
    }
}

/// One NOTIFY per event for the other instances, after the changes were
/// committed (see [`Hub::announce`]).
async fn tell_others(pool: Pool, events: Vec<i32>) {
    let told = db::run(&pool, move |conn| Ok(db::notify_live(conn, &events)?)).await;
    if let Err(error) = told {
        tracing::warn!(%error, "other instances not told of changes here");
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
        self.send_share(msg.event_id, ctx);
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(TICK, |hub, ctx| hub.tick(ctx));
        ctx.run_interval(QUICK_TICK, |hub, ctx| hub.quick_tick(ctx));
        ctx.run_interval(presence::FLUSH, |hub, ctx| {
            let watched = hub.presence.flush();
            presence::write(hub, ctx, watched, false);
        });
    }
}

impl Handler<Subscribe> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        let feed = self
            .feeds
            .entry(msg.event_id)
            .or_insert_with(|| Feed::new(msg.slug));
        let fresh = feed
            .subscribers
            .insert(
                msg.id,
                Subscriber {
                    socket: msg.socket,
                    closer: msg.closer,
                    has: None,
                },
            )
            .is_none();
        if fresh {
            self.counts.dashboards.fetch_add(1, Ordering::Relaxed);
            // Next in turn: its first snapshot goes out with the next share.
            feed.cycle.push_front(msg.id);
        }
        // A snapshot of the numbers as they are now, not as last computed.
        feed.dirty = true;
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        if let Some(feed) = self.feeds.get_mut(&msg.event_id) {
            if feed.subscribers.remove(&msg.id).is_some() {
                self.counts.dashboards.fetch_sub(1, Ordering::Relaxed);
            }
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
            if let Some(subscriber) = feed.subscribers.get_mut(&msg.id) {
                subscriber.has = None;
                feed.dirty = true;
            }
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
        // What changed here since the last tick, and the time stored now,
        // told to the other instances before this one goes.
        for w in &watched {
            self.changed_here(w.event_id);
        }
        let untold = self.to_announce.as_ref().and_then(|marks| marks.take());
        let pool = self.pool.clone();
        Box::pin(async move {
            if let Err(error) = presence::store(pool.clone(), watched, false).await {
                tracing::warn!(%error, "watched time could not be written at shutdown");
            }
            if let Some(events) = untold.filter(|events| !events.is_empty()) {
                tell_others(pool, events.into_iter().collect()).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::stats::{CountryStats, ModeTotals};
    use crate::live::protocol::sample_stats;

    fn parse(message: Option<Arc<str>>) -> serde_json::Value {
        serde_json::from_str(&message.expect("a message")).unwrap()
    }

    fn one_more_in(stats: &mut EventStats, country: &str) {
        stats.attended.offline += 1;
        stats.attended.total += 1;
        match stats.by_country.iter_mut().find(|c| c.code == country) {
            Some(c) => c.attended_offline += 1,
            None => stats.by_country.push(CountryStats {
                code: country.into(),
                name: country.into(),
                registered: 1,
                attended_offline: 1,
                attended_online: 0,
            }),
        }
    }

    /// Stands in for dashboards' sockets: takes pushes, drops them.
    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Push> for Sink {
        type Result = ();
        fn handle(&mut self, _: Push, _: &mut Context<Self>) {}
    }
    impl Handler<Close> for Sink {
        type Result = ();
        fn handle(&mut self, _: Close, _: &mut Context<Self>) {}
    }

    /// The next share round the cycle, handed the newest numbers as
    /// `send_share` does.
    fn take_share(feed: &mut Feed, timings: &HubTimings) -> Vec<u64> {
        let seq = feed.newest().map(|(seq, _)| *seq).unwrap();
        let visiting = feed.next_share(seq, 2, timings);
        for id in &visiting {
            feed.subscribers.get_mut(id).unwrap().has = Some(seq);
        }
        visiting
    }

    #[test]
    fn the_fan_out_goes_on_round_the_cycle_rather_than_start_again() {
        System::new().block_on(async {
            let sink = Sink.start();
            let timings = HubTimings::new().unwrap();
            let mut feed = Feed::new("e".into());
            for id in 1..=6 {
                feed.subscribers.insert(
                    id,
                    Subscriber {
                        socket: sink.clone().recipient(),
                        closer: sink.clone().recipient(),
                        has: None,
                    },
                );
                feed.cycle.push_back(id);
            }
            let mut stats = sample_stats();
            feed.publish(stats.clone());
            for share in [[1, 2], [3, 4], [5, 6]] {
                assert_eq!(take_share(&mut feed, &timings), share);
            }
            assert_eq!(timings.passes.get_sample_count(), 1, "one whole pass");

            // Newer numbers while the next pass is going out: those who got
            // them come last, not those who waited longest.
            one_more_in(&mut stats, "DE");
            feed.publish(stats.clone());
            assert_eq!(take_share(&mut feed, &timings), [1, 2]);
            one_more_in(&mut stats, "FR");
            feed.publish(stats.clone());
            assert_eq!(take_share(&mut feed, &timings), [3, 4]);
            assert_eq!(take_share(&mut feed, &timings), [5, 6]);
            assert_eq!(take_share(&mut feed, &timings), [1, 2]);
            assert!(take_share(&mut feed, &timings).is_empty(), "all up to date");
            assert!(feed.pass.is_none(), "no pass going when nobody is behind");

            // A dashboard that left is dropped from the cycle when met.
            feed.subscribers.remove(&4);
            one_more_in(&mut stats, "IT");
            feed.publish(stats.clone());
            assert_eq!(take_share(&mut feed, &timings), [3, 5]);
            assert_eq!(take_share(&mut feed, &timings), [6, 1]);
            assert_eq!(take_share(&mut feed, &timings), [2]);
            assert_eq!(feed.cycle.len(), 5);
        });
    }

    #[test]
    fn a_dashboard_behind_gets_one_update_from_what_it_holds() {
        let mut feed = Feed::new("e".into());
        let mut stats = sample_stats();
        feed.publish(stats.clone());
        one_more_in(&mut stats, "DE");
        feed.publish(stats.clone());
        one_more_in(&mut stats, "FR");
        feed.publish(stats.clone());

        let update = parse(feed.message_for(Some(1)));
        assert_eq!(update["type"], "update");
        assert_eq!(
            (update["seq"].as_u64(), update["since"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(
            update["attended"]["total"], 2,
            "both check-ins in one update"
        );
        let countries: Vec<_> = update["by_country"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].clone())
            .collect();
        assert_eq!(
            countries,
            ["DE", "FR"],
            "every country that changed since seq 1"
        );

        let one_step = parse(feed.message_for(Some(2)));
        assert_eq!(one_step["since"], 2);
        assert_eq!(one_step["by_country"].as_array().unwrap().len(), 1);
        assert!(feed.message_for(Some(3)).is_none(), "up to date: nothing");
        assert_eq!(parse(feed.message_for(None))["type"], "snapshot");
    }

    #[test]
    fn a_dashboard_further_behind_than_the_history_gets_a_snapshot() {
        let mut feed = Feed::new("e".into());
        let mut stats = sample_stats();
        for _ in 0..=HISTORY {
            one_more_in(&mut stats, "DE");
            feed.publish(stats.clone());
        }
        let caught_up = parse(feed.message_for(Some(1)));
        assert_eq!(caught_up["type"], "snapshot");
        assert_eq!(caught_up["attended"]["total"], HISTORY as i64 + 1);
        assert_eq!(parse(feed.message_for(Some(2)))["type"], "update");
    }

    #[test]
    fn the_recent_list_is_read_again_only_once_a_second_has_passed() {
        let mut feed = Feed::new("e".into());
        assert_eq!(feed.recent_to_keep(), None, "nothing published: read it");
        let mut stats = sample_stats();
        stats.recent = vec![RecentCheckin {
            name: "Ada Lovelace".into(),
            country: "GB".into(),
            session: None,
            session_title: None,
            door: Some("North".into()),
            mode: "offline".into(),
            at: "2026-11-24T06:41:12.345Z".into(),
        }];
        feed.publish(stats.clone());
        assert_eq!(feed.recent_to_keep(), None, "never sent: read it");

        feed.recent_sent_at = Some(Instant::now());
        assert_eq!(
            feed.recent_to_keep(),
            Some(stats.recent.clone()),
            "sent just now: the next computation keeps what clients hold"
        );

        feed.recent_sent_at = Instant::now().checked_sub(RECENT_EVERY);
        assert_eq!(feed.recent_to_keep(), None, "a second later: read it");
    }

    #[test]
    fn numbers_back_to_what_a_dashboard_holds_send_nothing() {
        let mut feed = Feed::new("e".into());
        let before = sample_stats();
        feed.publish(before.clone());
        let mut after = before.clone();
        after.registered = ModeTotals {
            offline: 3,
            online: 1,
            total: 4,
        };
        feed.publish(after);
        feed.publish(before); // a registration cancelled again
        assert!(feed.message_for(Some(1)).is_none());
    }
}
