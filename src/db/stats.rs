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

/// Advisory lock key (with the event's id) of folding an event's grid.
const GRID_FOLD_LOCK: i32 = 0x6772_6964;

/// PostgreSQL: an event's grid changes folded into one row per cell, when
/// some came since the last fold, so reading the grid sums a few rows
/// (a door rush adds a few per batch). One fold of an event at a time:
/// another that finds the lock taken leaves it. Writers only ever insert
/// changes, so a fold waits for no one and no one waits for it; those not
/// yet committed stay for the next. Not inside another transaction (the
/// report's read-only snapshot): the next computation of the live hub or
/// a stats request folds instead.
pub fn fold_grid_changes(conn: &mut DbConnection, event_id: i32) -> Result<(), DbError> {
    if !matches!(conn, DbConnection::Postgresql(_)) || super::in_transaction(conn) {
        return Ok(());
    }
    let fold = format!(
        "WITH turn AS (SELECT pg_try_advisory_xact_lock({GRID_FOLD_LOCK}, {event_id}) AS ours), \
              folded AS ( \
                DELETE FROM participant_grid_changes \
                WHERE event_id = {event_id} AND (SELECT ours FROM turn) \
                  AND EXISTS (SELECT 1 FROM participant_grid_changes \
                              WHERE event_id = {event_id} AND NOT folded) \
                RETURNING status, country, mode, category, attended, people) \
         INSERT INTO participant_grid_changes \
             (event_id, status, country, mode, category, attended, people, folded) \
         SELECT {event_id}, status, country, mode, category, attended, SUM(people), TRUE \
         FROM folded GROUP BY status, country, mode, category, attended \
         HAVING SUM(people) <> 0"
    );
    super::write_transaction(conn, |conn| diesel::sql_query(&fold).execute(conn))?;
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
    fold_grid_changes(conn, event_id)?;
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
#[derive(QueryableByName)]
struct SessionCount {
    #[diesel(sql_type = Integer)]
    session_id: i32,
    #[diesel(sql_type = Text)]
    mode: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    counted: bool,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct WatchCounts {
    #[diesel(sql_type = Integer)]
    session_id: i32,
    #[diesel(sql_type = BigInt)]
    watching_now: i64,
    #[diesel(sql_type = BigInt)]
    seconds: i64,
}

fn session_stats(
    conn: &mut DbConnection,
    event_id: i32,
    now_ms: i64,
) -> Result<Vec<SessionStats>, DbError> {
    let sessions = super::events::sessions_of(conn, event_id)?;
    let counts: Vec<SessionCount> = diesel::sql_query(session_counts_sql(event_id)).load(conn)?;
    let watch: Vec<WatchCounts> = diesel::sql_query(watch_sql(event_id, now_ms)).load(conn)?;
    let seats = super::events::seats_taken(conn, event_id)?;
    let records = |id: i32, mode: &str, counted_only: bool| -> i64 {
        counts
            .iter()
            .filter(|c| c.session_id == id && c.mode == mode && (c.counted || !counted_only))
            .map(|c| c.n)
            .sum()
    };
    let watched = |id: i32| watch.iter().find(|w| w.session_id == id);
    let seat = |id: i32, mode| {
        seats
            .iter()
            .find(|(s, m, _)| *s == id && *m == mode)
            .map_or(0, |(_, _, n)| *n)
    };
    use crate::domain::AttendanceMode::{Offline, Online};
    Ok(sessions
        .into_iter()
        .map(|s| SessionStats {
            in_person: records(s.id, "offline", false),
            online: records(s.id, "online", true),
            online_joined: records(s.id, "online", false),
            watching_now: watched(s.id).map_or(0, |w| w.watching_now),
            minutes_watched: watched(s.id).map_or(0, |w| w.seconds / 60),
            online_min_minutes: s.online_min_minutes,
            registered_offline: seat(s.id, Offline),
            registered_online: seat(s.id, Online),
            starts_at: timefmt::rfc3339(s.starts_at),
            slug: s.slug,
            title: s.title,
            capacity_offline: s.capacity_offline,
            capacity_online: s.capacity_online,
        })
        .collect())
}

/// Grouped by the covering index's own columns: no expression per record
/// (`SUM(CASE …)` over 500,000 records took twice as long).
fn session_counts_sql(event_id: i32) -> String {
    format!(
        "SELECT session_id, mode, counted, COUNT(*) AS n FROM attendance \
         WHERE event_id = {event_id} AND session_id IS NOT NULL \
         GROUP BY session_id, mode, counted"
    )
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
fn arrivals(
    conn: &mut DbConnection,
    event_id: i32,
    now_ms: i64,
) -> Result<Vec<MinuteCount>, DbError> {
    // The statement yields every minute of the hour, empty ones as 0.
    let counted: Vec<MinuteRow> = diesel::sql_query(arrivals_sql(event_id, now_ms)).load(conn)?;
    Ok(counted
        .into_iter()
        .map(|r| MinuteCount {
            minute: timefmt::rfc3339(r.minute * MINUTE_MS),
            count: r.n,
        })
        .collect())
}

/// One range count per minute: each reads a stretch of the (event, time)
/// index in order, where grouping by `recorded_at / 60000` sorted every
/// record of the hour first (5× slower at 100,000 arrivals an hour).
fn arrivals_sql(event_id: i32, now_ms: i64) -> String {
    let this_minute = now_ms.div_euclid(MINUTE_MS);
    let first = this_minute - (ARRIVAL_MINUTES - 1);
    format!(
        "WITH RECURSIVE m(start) AS ( \
             SELECT CAST({from} AS BIGINT) UNION ALL \
             SELECT start + {MINUTE_MS} FROM m WHERE start < {last}) \
         SELECT start / {MINUTE_MS} AS minute, \
                (SELECT COUNT(*) FROM attendance \
                 WHERE event_id = {event_id} AND recorded_at >= m.start \
                   AND recorded_at < m.start + {MINUTE_MS}) AS n \
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
        ("session counts", session_counts_sql(event_id)),
        ("watching", watch_sql(event_id, now_ms)),
        ("arrivals per minute", arrivals_sql(event_id, now_ms)),
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
