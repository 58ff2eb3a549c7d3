//! The one set of attendance numbers. The stats API, the live snapshot and
//! the dashboard page all come from `event_stats`, so they can't disagree.
//!
//! Counting rules: "registered" counts live registrations by the mode they
//! registered for. "attended" counts people, not scans: someone with any
//! in-person record counts in person; someone who only joined online counts
//! online; so offline + online = total. An online join counts as attended
//! once the session's minimum minutes have been watched (0: at once).
//!
//! The rules live in the database: triggers (migration `tallies`) keep each
//! record's `counted` flag true as rows are written, and what each person
//! attended (-1 none, 0 online only, 1 in person): a flag per person on
//! PostgreSQL, counters per group of people on SQLite (migration
//! `participant_grid`). So the aggregates here read covering indexes and
//! small tables instead of joining every record to its session and watched
//! time.

use super::schema::{agenda_sessions, attendance, participants};
use super::{DbConnection, DbError};
use crate::domain::Country;
use crate::timefmt;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use serde::{Deserialize, Serialize};

pub const RECENT_CHECKINS: i64 = 20;
pub const ARRIVAL_MINUTES: i64 = 60;
const MINUTE_MS: i64 = 60_000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeTotals {
    pub offline: i64,
    pub online: i64,
    pub total: i64,
}

impl ModeTotals {
    fn add(&mut self, mode: &str, n: i64) {
        if mode == "offline" {
            self.offline += n;
        } else {
            self.online += n;
        }
        self.total += n;
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryStats {
    pub code: String,
    pub name: String,
    pub registered: i64,
    pub attended_offline: i64,
    pub attended_online: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryStats {
    pub category: String,
    pub label: String,
    pub registered: i64,
    pub attended: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    pub slug: String,
    pub title: String,
    pub starts_at: String,
    pub in_person: i64,
    /// Online participants who count as attended (the minimum-minutes rule).
    pub online: i64,
    /// Everyone who used the join link, whether or not they watched enough.
    pub online_joined: i64,
    /// Participants with the watch page open now.
    pub watching_now: i64,
    pub minutes_watched: i64,
    pub online_min_minutes: i32,
    pub registered_offline: i64,
    pub registered_online: i64,
    pub capacity_offline: Option<i32>,
    pub capacity_online: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    /// Start of the minute, RFC 3339 UTC.
    pub minute: String,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentCheckin {
    pub name: String,
    pub country: String,
    pub session: Option<String>,
    pub session_title: Option<String>,
    pub door: Option<String>,
    pub mode: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStats {
    pub event: String,
    pub registered: ModeTotals,
    pub attended: ModeTotals,
    /// Live registrations with no counted attendance, by registered mode.
    pub no_shows: ModeTotals,
    pub cancelled: i64,
    pub by_country: Vec<CountryStats>,
    pub by_category: Vec<CategoryStats>,
    pub by_session: Vec<SessionStats>,
    pub arrivals_per_minute: Vec<MinuteCount>,
    pub recent: Vec<RecentCheckin>,
}

/// One row of the participants grid: how many people of a country, mode,
/// category and status, attending in person (1), only online (0) or not at
/// all (-1).
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GridRow {
    #[diesel(sql_type = Text)]
    pub country: String,
    #[diesel(sql_type = Text)]
    pub mode: String,
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attended: i32,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

// In the statements below only integers are formatted into the SQL (diesel
// can't group by an expression): no text from outside reaches it.

/// The grid of an event, cells with nobody left out.
pub fn participant_grid(conn: &mut DbConnection, event_id: i32) -> Result<Vec<GridRow>, DbError> {
    let sql = participant_grid_sql(conn, event_id);
    Ok(diesel::sql_query(sql).load(conn)?)
}

/// People per status, country, mode, category and what they attended.
/// PostgreSQL sums the changes its triggers record per cell (migration
/// `participant_grid`, PostgreSQL's: grouping every person's row took
/// 10-15 ms at 10,000 people); SQLite reads the counters its triggers keep
/// (its migration `participant_grid`: a flag per person made every first
/// scan rewrite the person's row).
fn participant_grid_sql(conn: &DbConnection, event_id: i32) -> String {
    match conn {
        DbConnection::Postgresql(_) => format!(
            "SELECT country, mode, category, status, attended, CAST(SUM(people) AS BIGINT) AS n \
             FROM participant_grid_changes WHERE event_id = {event_id} \
             GROUP BY status, country, mode, category, attended \
             HAVING SUM(people) <> 0"
        ),
        DbConnection::Sqlite(_) => format!(
            "SELECT country, mode, category, status, attended, n FROM ( \
               SELECT country, mode, category, status, 1 AS attended, in_person AS n \
               FROM participant_grid WHERE event_id = {event_id} \
               UNION ALL \
               SELECT country, mode, category, status, 0, attended - in_person \
               FROM participant_grid WHERE event_id = {event_id} \
               UNION ALL \
               SELECT country, mode, category, status, -1, people - attended \
               FROM participant_grid WHERE event_id = {event_id}) \
             WHERE n > 0"
        ),
    }
}

/// Advisory lock key (with the event's id) of folding an event's changes.
const FOLD_LOCK: i32 = 0x6772_6964;

/// PostgreSQL: an event's recorded changes, to the participant grid, the
/// session counts and the arrivals per minute, folded into one row per
/// cell, count or minute, where some came since the last fold, so reading
/// them sums a few rows (a door rush adds a few per batch). One fold of an
/// event at a time: another that finds the lock taken leaves it. Writers
/// only ever insert changes, so a fold waits for no one and no one waits
/// for it; those not yet committed stay for the next. Not inside another
/// transaction (the report's read-only snapshot): the next computation of
/// the live hub or a stats request folds instead.
///
/// Its commit isn't waited for on disk: a fold lost in a crash leaves the
/// rows it would have replaced, which sum to the same numbers, and the
/// live hub's computations (a dozen a second with 10,000 dashboards) then
/// don't each wait for a flush. Sent as one message, not a transaction of
/// four (each round trip waited ~1 ms for the busy CPUs).
pub fn fold_changes(conn: &mut DbConnection, event_id: i32) -> Result<(), DbError> {
    if !matches!(conn, DbConnection::Postgresql(_)) || super::in_transaction(conn) {
        return Ok(());
    }
    // A table's rows of `key` deleted and summed back as folded ones, for
    // each key that has a new change.
    let fold = |table: &str, key: &str, amount: &str| {
        format!(
            "{table}_old AS ( \
               DELETE FROM {table} \
               WHERE event_id = {event_id} AND (SELECT ours FROM turn) \
                 AND ({key}) IN (SELECT {key} FROM {table} \
                                 WHERE event_id = {event_id} AND NOT folded) \
               RETURNING {key}, {amount}), \
             {table}_new AS ( \
               INSERT INTO {table} (event_id, {key}, {amount}, folded) \
               SELECT {event_id}, {key}, SUM({amount}), TRUE \
               FROM {table}_old GROUP BY {key} HAVING SUM({amount}) <> 0)"
        )
    };
    let sql = format!(
        "WITH turn AS (SELECT pg_try_advisory_xact_lock({FOLD_LOCK}, {event_id}) AS ours), \
         {}, {}, {} SELECT 1",
        fold(
            "participant_grid_changes",
            "status, country, mode, category, attended",
            "people"
        ),
        fold(
            "session_count_changes",
            "session_id, mode, counted",
            "records"
        ),
        fold("arrival_changes", "minute", "records"),
    );
    // One statement, so one implicit transaction: one round trip.
    use diesel::connection::SimpleConnection;
    conn.batch_execute(&format!("SET LOCAL synchronous_commit = off; {sql}"))?;
    Ok(())
}

/// An event's numbers as the dashboards, the stats API and the report
/// show them, every part read on one snapshot ([`super::read_snapshot`]).
pub fn event_stats(
    conn: &mut DbConnection,
    event_id: i32,
    event_slug: &str,
    now_ms: i64,
) -> Result<EventStats, DbError> {
    event_stats_keeping_recent(conn, event_id, event_slug, now_ms, None)
}

/// [`event_stats`], with `Some` recent check-ins the caller already holds
/// used instead of reading them again. The live hub sends that list at
/// most once a second but recomputes the numbers every tick; on a fresh
/// event, before autovacuum's first ANALYZE, the list's query was half of
/// each computation on PostgreSQL with 10,000 dashboards (BENCHMARKS.md,
/// history 46).
pub fn event_stats_keeping_recent(
    conn: &mut DbConnection,
    event_id: i32,
    event_slug: &str,
    now_ms: i64,
    held_recent: Option<Vec<RecentCheckin>>,
) -> Result<EventStats, DbError> {
    fold_changes(conn, event_id)?;
    super::read_snapshot(conn, |conn| {
        numbers(conn, event_id, event_slug, now_ms, held_recent.clone())
    })
}

/// [`event_stats`], its statements run on whatever snapshot `conn` is in;
/// `held_recent`: the recent check-ins to use instead of reading them.
fn numbers(
    conn: &mut DbConnection,
    event_id: i32,
    event_slug: &str,
    now_ms: i64,
    held_recent: Option<Vec<RecentCheckin>>,
) -> Result<EventStats, DbError> {
    let mut registered = ModeTotals::default();
    let mut attended = ModeTotals::default();
    let mut no_shows = ModeTotals::default();
    let mut cancelled = 0;
    let mut countries: Vec<CountryStats> = Vec::new();
    let mut categories: Vec<CategoryStats> = crate::domain::Category::ALL
        .iter()
        .map(|c| CategoryStats {
            category: c.as_str().into(),
            label: c.label().into(),
            registered: 0,
            attended: 0,
        })
        .collect();
    for row in participant_grid(conn, event_id)? {
        let index = countries
            .iter()
            .position(|c| c.code == row.country)
            .unwrap_or_else(|| {
                countries.push(CountryStats {
                    name: Country::name_of(&row.country),
                    code: row.country.clone(),
                    registered: 0,
                    attended_offline: 0,
                    attended_online: 0,
                });
                countries.len() - 1
            });
        let country = &mut countries[index];
        let category = categories.iter_mut().find(|c| c.category == row.category);
        let live = row.status == "registered";
        if live {
            country.registered += row.n;
            registered.add(&row.mode, row.n);
            if row.attended < 0 {
                no_shows.add(&row.mode, row.n);
            }
        } else {
            cancelled += row.n;
        }
        if let Some(category) = category {
            category.registered += if live { row.n } else { 0 };
            category.attended += if row.attended >= 0 { row.n } else { 0 };
        }
        match row.attended {
            1 => {
                country.attended_offline += row.n;
                attended.add("offline", row.n);
            }
            0 => {
                country.attended_online += row.n;
                attended.add("online", row.n);
            }
            _ => {}
        }
    }
    countries.sort_by(|a, b| {
        (b.attended_offline + b.attended_online, b.registered)
            .cmp(&(a.attended_offline + a.attended_online, a.registered))
            .then_with(|| a.name.cmp(&b.name))
    });

    Ok(EventStats {
        event: event_slug.to_string(),
        registered,
        attended,
        no_shows,
        cancelled,
        by_country: countries,
        by_category: categories,
        by_session: session_stats(conn, event_id, now_ms)?,
        arrivals_per_minute: arrivals(conn, event_id, now_ms)?,
        recent: match held_recent {
            Some(held) => held,
            None => recent(conn, event_id)?,
        },
    })
}

/// Records of one session, mode and counted flag.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionCount {
    #[diesel(sql_type = Integer)]
    pub session_id: i32,
    #[diesel(sql_type = Text)]
    pub mode: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub counted: bool,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// One session's row of the dashboards' table, as read.
#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = BigInt)]
    starts_at: i64,
    #[diesel(sql_type = Integer)]
    online_min_minutes: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
    capacity_offline: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
    capacity_online: Option<i32>,
    #[diesel(sql_type = BigInt)]
    in_person: i64,
    #[diesel(sql_type = BigInt)]
    online: i64,
    #[diesel(sql_type = BigInt)]
    online_joined: i64,
    #[diesel(sql_type = BigInt)]
    watching_now: i64,
    #[diesel(sql_type = BigInt)]
    seconds_watched: i64,
    #[diesel(sql_type = BigInt)]
    registered_offline: i64,
    #[diesel(sql_type = BigInt)]
    registered_online: i64,
}

fn session_stats(
    conn: &mut DbConnection,
    event_id: i32,
    now_ms: i64,
) -> Result<Vec<SessionStats>, DbError> {
    let sql = session_stats_sql(conn, event_id, now_ms);
    let rows: Vec<SessionRow> = diesel::sql_query(sql).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|s| SessionStats {
            slug: s.slug,
            title: s.title,
            starts_at: timefmt::rfc3339(s.starts_at),
            in_person: s.in_person,
            online: s.online,
            online_joined: s.online_joined,
            watching_now: s.watching_now,
            minutes_watched: s.seconds_watched / 60,
            online_min_minutes: s.online_min_minutes,
            registered_offline: s.registered_offline,
            registered_online: s.registered_online,
            capacity_offline: s.capacity_offline,
            capacity_online: s.capacity_online,
        })
        .collect())
}

/// Each session of the event with its records, watchers and seats taken,
/// in one statement: the live hub recomputes these a dozen times a second
/// with 10,000 dashboards open, and on PostgreSQL each statement is a round
/// trip that waited ~1 ms for the busy CPUs (four statements took 4-5 ms
/// more than their work; BENCHMARKS.md, history 52).
fn session_stats_sql(conn: &DbConnection, event_id: i32, now_ms: i64) -> String {
    format!(
        "SELECT s.slug, s.title, s.starts_at, s.online_min_minutes, \
                s.capacity_offline, s.capacity_online, \
                CAST(COALESCE(r.in_person, 0) AS BIGINT) AS in_person, \
                CAST(COALESCE(r.online, 0) AS BIGINT) AS online, \
                CAST(COALESCE(r.online_joined, 0) AS BIGINT) AS online_joined, \
                CAST(COALESCE(w.watching_now, 0) AS BIGINT) AS watching_now, \
                CAST(COALESCE(w.seconds, 0) AS BIGINT) AS seconds_watched, \
                CAST(COALESCE(offline_seats.taken, 0) AS BIGINT) AS registered_offline, \
                CAST(COALESCE(online_seats.taken, 0) AS BIGINT) AS registered_online \
         FROM agenda_sessions s \
         LEFT JOIN ( \
             SELECT session_id, \
                    SUM(CASE WHEN mode = 'offline' THEN n ELSE 0 END) AS in_person, \
                    SUM(CASE WHEN mode = 'online' AND counted THEN n ELSE 0 END) AS online, \
                    SUM(CASE WHEN mode = 'online' THEN n ELSE 0 END) AS online_joined \
             FROM ({counts}) counts GROUP BY session_id) r ON r.session_id = s.id \
         LEFT JOIN ({watch}) w ON w.session_id = s.id \
         LEFT JOIN session_seats offline_seats \
             ON offline_seats.session_id = s.id AND offline_seats.seat = 'offline' \
         LEFT JOIN session_seats online_seats \
             ON online_seats.session_id = s.id AND online_seats.seat = 'online' \
         WHERE s.event_id = {event_id} \
         ORDER BY s.starts_at, s.id",
        counts = session_counts_sql(conn, event_id),
        watch = watch_sql(event_id, now_ms),
    )
}

/// An event's records per session, mode and counted flag (counts of zero
/// left out).
pub fn session_counts(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<Vec<SessionCount>, DbError> {
    let sql = session_counts_sql(conn, event_id);
    Ok(diesel::sql_query(sql).load(conn)?)
}

/// PostgreSQL sums the changes its triggers record per count (migration
/// `live_counts`: counting the records took 4.3 ms at 12,000 of them);
/// SQLite counts the records, grouped by the covering index's own columns:
/// no expression per record (`SUM(CASE …)` over 500,000 records took twice
/// as long).
fn session_counts_sql(conn: &DbConnection, event_id: i32) -> String {
    match conn {
        DbConnection::Postgresql(_) => format!(
            "SELECT session_id, mode, counted, CAST(SUM(records) AS BIGINT) AS n \
             FROM session_count_changes WHERE event_id = {event_id} \
             GROUP BY session_id, mode, counted HAVING SUM(records) <> 0"
        ),
        DbConnection::Sqlite(_) => format!(
            "SELECT session_id, mode, counted, COUNT(*) AS n FROM attendance \
             WHERE event_id = {event_id} AND session_id IS NOT NULL \
             GROUP BY session_id, mode, counted"
        ),
    }
}

/// A session's records in person: what its room's capacity is checked
/// against. PostgreSQL sums the session's counts (migration
/// `lighter_door_insert` dropped the index that counted the records);
/// SQLite counts the records from its covering index.
pub fn in_person_records(
    conn: &mut DbConnection,
    event_id: i32,
    session_id: i32,
) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sql = match conn {
        DbConnection::Postgresql(_) => {
            "SELECT CAST(COALESCE(SUM(records), 0) AS BIGINT) AS n FROM session_count_changes \
             WHERE event_id = $1 AND session_id = $2 AND mode = 'offline'"
        }
        DbConnection::Sqlite(_) => {
            "SELECT COUNT(*) AS n FROM attendance \
             WHERE event_id = ? AND session_id = ? AND mode = 'offline'"
        }
    };
    let total: Total = diesel::sql_query(sql)
        .bind::<Integer, _>(event_id)
        .bind::<Integer, _>(session_id)
        .get_result(conn)?;
    Ok(total.n)
}

fn watch_sql(event_id: i32, now_ms: i64) -> String {
    format!(
        "SELECT session_id, \
                SUM(CASE WHEN last_seen >= {cut} THEN 1 ELSE 0 END) AS watching_now, \
                CAST(SUM(seconds_watched) AS BIGINT) AS seconds \
         FROM watching WHERE event_id = {event_id} GROUP BY session_id",
        cut = now_ms - super::online::PRESENCE_WINDOW_MS,
    )
}

#[derive(QueryableByName)]
struct MinuteRow {
    #[diesel(sql_type = BigInt)]
    minute: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Check-ins per minute over the last hour, oldest first, zero-filled.
pub fn arrivals(
    conn: &mut DbConnection,
    event_id: i32,
    now_ms: i64,
) -> Result<Vec<MinuteCount>, DbError> {
    // The statement yields every minute of the hour, empty ones as 0.
    let sql = arrivals_sql(conn, event_id, now_ms);
    let counted: Vec<MinuteRow> = diesel::sql_query(sql).load(conn)?;
    Ok(counted
        .into_iter()
        .map(|r| MinuteCount {
            minute: timefmt::rfc3339(r.minute * MINUTE_MS),
            count: r.n,
        })
        .collect())
}

/// Every minute of the hour with its records, empty ones as 0. PostgreSQL
/// sums the changes its triggers record per minute (migration
/// `live_counts`: counting the records took 2.2 ms at 12,000 of them).
/// SQLite makes one range count per minute: each reads a stretch of the
/// (event, time) index in order, where grouping by `recorded_at / 60000`
/// sorted every record of the hour first (5× slower at 100,000 arrivals an
/// hour).
fn arrivals_sql(conn: &DbConnection, event_id: i32, now_ms: i64) -> String {
    let this_minute = now_ms.div_euclid(MINUTE_MS);
    let first = this_minute - (ARRIVAL_MINUTES - 1);
    let count = match conn {
        DbConnection::Postgresql(_) => format!(
            "SELECT CAST(COALESCE(SUM(records), 0) AS BIGINT) FROM arrival_changes \
             WHERE event_id = {event_id} AND minute = m.start / {MINUTE_MS}"
        ),
        DbConnection::Sqlite(_) => format!(
            "SELECT COUNT(*) FROM attendance \
             WHERE event_id = {event_id} AND recorded_at >= m.start \
               AND recorded_at < m.start + {MINUTE_MS}"
        ),
    };
    format!(
        "WITH RECURSIVE m(start) AS ( \
             SELECT CAST({from} AS BIGINT) UNION ALL \
             SELECT start + {MINUTE_MS} FROM m WHERE start < {last}) \
         SELECT start / {MINUTE_MS} AS minute, ({count}) AS n \
         FROM m ORDER BY start",
        from = first * MINUTE_MS,
        last = this_minute * MINUTE_MS,
    )
}

/// A recent check-in as stored: the time still in milliseconds.
#[derive(Queryable)]
struct RecentRow {
    name: String,
    country: String,
    session: Option<String>,
    session_title: Option<String>,
    door: Option<String>,
    mode: String,
    at: i64,
}

fn recent(conn: &mut DbConnection, event_id: i32) -> Result<Vec<RecentCheckin>, DbError> {
    let rows: Vec<RecentRow> = attendance::table
        .inner_join(participants::table)
        .left_join(
            agenda_sessions::table.on(agenda_sessions::id.nullable().eq(attendance::session_id)),
        )
        .filter(attendance::event_id.eq(event_id))
        .order((attendance::recorded_at.desc(), attendance::id.desc()))
        .limit(RECENT_CHECKINS)
        .select((
            participants::full_name,
            participants::country,
            agenda_sessions::slug.nullable(),
            agenda_sessions::title.nullable(),
            attendance::door,
            attendance::mode,
            attendance::recorded_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| RecentCheckin {
            name: r.name,
            country: r.country,
            session: r.session,
            session_title: r.session_title,
            door: r.door,
            mode: r.mode,
            at: timefmt::rfc3339(r.at),
        })
        .collect())
}

/// Arrivals per quarter hour for each session (and event entry, `None`),
/// for the report's timelines.
pub const QUARTER_MS: i64 = 15 * MINUTE_MS;
// The `tallies` migrations index `recorded_at / 900000` (SQLite) and store
// it as `recorded_quarter` (PostgreSQL).
const _: () = assert!(QUARTER_MS == 900_000);

#[derive(QueryableByName)]
pub struct QuarterCount {
    #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
    pub session_id: Option<i32>,
    #[diesel(sql_type = BigInt)]
    pub quarter: i64,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

pub fn arrivals_by_quarter(
    conn: &mut DbConnection,
    event_id: i32,
) -> Result<Vec<QuarterCount>, DbError> {
    let sql = arrivals_by_quarter_sql(conn, event_id);
    Ok(diesel::sql_query(sql).load(conn)?)
}

/// Each backend reads the quarter from an index: SQLite indexes the
/// expression itself; PostgreSQL only reads an index alone for a stored
/// column (`recorded_quarter`, both in the `tallies` migration).
fn arrivals_by_quarter_sql(conn: &DbConnection, event_id: i32) -> String {
    let quarter = match conn {
        DbConnection::Sqlite(_) => format!("recorded_at / {QUARTER_MS}"),
        DbConnection::Postgresql(_) => "recorded_quarter".to_string(),
    };
    format!(
        "SELECT session_id, {quarter} AS quarter, COUNT(*) AS n \
         FROM attendance WHERE event_id = {event_id} \
         GROUP BY session_id, {quarter} ORDER BY quarter"
    )
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PostgresPlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// How the database runs each aggregate behind the stats and the report,
/// as it explains it: for the benchmark's proof that they use indexes.
pub fn explain_event_stats(
    conn: &mut DbConnection,
    event_id: i32,
    now_ms: i64,
) -> Result<String, DbError> {
    let statements = [
        ("participant grid", participant_grid_sql(conn, event_id)),
        ("sessions", session_stats_sql(conn, event_id, now_ms)),
        ("arrivals per minute", arrivals_sql(conn, event_id, now_ms)),
        (
            "arrivals per quarter",
            arrivals_by_quarter_sql(conn, event_id),
        ),
    ];
    let mut out = String::new();
    for (name, sql) in statements {
        out.push_str(&format!("-- {name}\n"));
        let lines: Vec<String> = match conn {
            DbConnection::Sqlite(_) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<SqlitePlanLine>(conn)?
                .into_iter()
                .map(|l| l.detail)
                .collect(),
            DbConnection::Postgresql(_) => diesel::sql_query(format!("EXPLAIN {sql}"))
                .load::<PostgresPlanLine>(conn)?
                .into_iter()
                .map(|l| l.line)
                .collect(),
        };
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{Connection, InstrumentationEvent, SimpleConnection};
    use std::sync::{Arc, Mutex};

    /// A check-in committed by another connection while the numbers are
    /// being read counts in all of them or in none: the total attended
    /// (from the participant grid, read first) and the session's count
    /// (read after) never disagree.
    #[test]
    fn a_check_in_committed_midway_counts_in_every_number_or_in_none() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("forum.db").display());
        let mut reader = crate::db::testing::forum(
            &url,
            "PRAGMA journal_mode = WAL; \
                 INSERT INTO agenda_sessions (id, event_id, slug, title, starts_at, ends_at, format, \
                                              online_min_minutes) \
                 VALUES (1, 1, 'talk', 'Talk', 0, 50, 'hybrid', 0); \
                 INSERT INTO participants (id, event_id, full_name, email, affiliation, country, \
                                           mode, category, status, checkin_code, page_token, \
                                           created_at) \
                 VALUES (1, 1, 'A', 'a@x', '', 'DE', 'offline', 'delegate', 'registered', 'c1', \
                         't1', 0);",
        );
        // The door, another connection, commits a check-in as the reader
        // starts its second statement.
        let door = Arc::new(Mutex::new(Some(DbConnection::establish(&url).unwrap())));
        let selects = Arc::new(Mutex::new(0));
        reader.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            let InstrumentationEvent::StartQuery { query, .. } = event else {
                return;
            };
            if !query.to_string().trim_start().starts_with("SELECT") {
                return;
            }
            let mut seen = selects.lock().unwrap();
            *seen += 1;
            if *seen == 2 {
                if let Some(mut door) = door.lock().unwrap().take() {
                    door.batch_execute(
                        "INSERT INTO attendance (event_id, participant_id, session_id, mode, \
                                                 source, recorded_at) \
                         VALUES (1, 1, 1, 'offline', 'door_scan', 10)",
                    )
                    .unwrap();
                }
            }
        });

        let stats = event_stats(&mut reader, 1, "forum", 20).unwrap();
        let talk = &stats.by_session[0];
        assert_eq!(
            stats.attended.total, talk.in_person,
            "attended {} against the session's {}",
            stats.attended.total, talk.in_person
        );
        let after = event_stats(&mut reader, 1, "forum", 20).unwrap();
        assert_eq!(
            (after.attended.total, after.by_session[0].in_person),
            (1, 1)
        );
        assert_eq!(after.recent.len(), 1, "the check-in is read as recent");

        // Keeping the list a dashboard holds changes that list only.
        let kept =
            event_stats_keeping_recent(&mut reader, 1, "forum", 20, Some(Vec::new())).unwrap();
        assert!(kept.recent.is_empty());
        assert_eq!(
            EventStats {
                recent: after.recent.clone(),
                ..kept
            },
            after
        );
    }
}
