//! The database layer: the backend switch (SQLite or PostgreSQL), the pool,
//! migrations, and one module of queries per aggregate. All SQL lives here.

pub mod attendance;
pub mod checkins;
pub mod checkpoints;
pub mod events;
pub mod exports;
mod fixed_chunks;
pub mod group_commit;
pub mod imports;
mod in_batch;
pub mod online;
pub mod participants;
pub mod privacy;
pub mod schema;
pub mod secrets;
pub mod staff;
pub mod stats;
pub mod tokens;
mod wal_writes;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to whichever backend the deployment uses.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same diesel expression on the concrete connection inside a
/// [`DbConnection`], for the statements `MultiConnection` can't express
/// (`ON CONFLICT`, multi-row inserts).
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// `query.load(conn)`, run on the concrete connection inside a
/// [`DbConnection`]. For the door writer's reads, which run for every batch:
/// through `MultiConnection`, diesel writes a statement's SQL out again on
/// each pass over it (to check it may be cached, to bind its values), even
/// when the statement is prepared already. That was a tenth of the writer's
/// instructions in batches of eight (BENCHMARKS.md history 28).
#[macro_export]
macro_rules! load_direct {
    ($conn:expr, $query:expr) => {
        $crate::with_backend!($conn, |c| diesel::RunQueryDsl::load($query, c))
    };
}

/// Where the data lives, parsed once from `ROLLCALL_DATABASE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://PATH` or a
    /// plain path is a SQLite file.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the database URL is empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_string()));
        }
        let path = raw.strip_prefix("sqlite://").unwrap_or(raw);
        if path.is_empty() {
            return Err("sqlite:// needs a file path".into());
        }
        if path.contains("://") {
            return Err(format!(
                "unsupported database URL scheme in {:?}: use a file path, sqlite://PATH or postgres://…",
                raw.split("://").next().unwrap_or_default()
            ));
        }
        Ok(Self::Sqlite(path.to_string()))
    }

    /// The file path or PostgreSQL URL, as `--database` and
    /// `ROLLCALL_DATABASE_URL` take it (`parse` gives back the same).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(path) => path,
            Self::Postgres(url) => url,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available")]
    Pool(#[from] r2d2::PoolError),
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("the blocking database task was cancelled")]
    Cancelled,
    #[error("the check-in batch failed: {0}")]
    Batch(String),
    /// A batch that recorded nothing because the database could not be
    /// reached, as told to each of its requests.
    #[error("the database is not answering: {0}")]
    Unavailable(String),
    #[error("stored data is not what Rollcall wrote: {0}")]
    Corrupt(String),
}

impl DbError {
    /// The database could not be reached: no connection within the pool's
    /// wait, or the connection closed under the statement. Nothing was
    /// recorded, and the same request may work in a moment.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Unavailable(_) => true,
            DbError::Query(diesel::result::Error::DatabaseError(kind, _)) => {
                matches!(kind, diesel::result::DatabaseErrorKind::ClosedConnection)
            }
            _ => false,
        }
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Opens connections for the pool, with the per-connection SQLite settings.
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                // WAL frames reach the file in one write per commit.
                wal_writes::install().map_err(|reason| {
                    r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(reason))
                })?;
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // Pragmas are per connection. busy_timeout comes first so the
                // others (and a second writer later) wait instead of failing;
                // WAL lets readers run beside the one writer; synchronous=FULL
                // makes every answered commit survive power loss, not only a
                // process crash. Reads go through a memory map and a 16 MiB
                // page cache rather than a read() per page. Statement
                // journals (a multi-row insert with triggers needs one) stay
                // in memory rather than in a temporary file per batch. The
                // server copies the WAL back into the database on a thread
                // of its own (`checkpoints`); a committing connection does
                // it only once the WAL reaches the bound.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                     PRAGMA mmap_size = 268435456; PRAGMA cache_size = -16384; \
                     PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {};",
                    checkpoints::WAL_BOUND_PAGES
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Applies pending migrations, then builds the pool, so a new database is
/// ready with no other step.
pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Pool, DbError> {
    open_pool(url, max_size, Box::new(LogConnectFailures::default()))
}

/// The database is prepared on one connection of its own before the pool
/// opens its connections side by side: a new SQLite file turns to WAL on
/// its first connection, which needs the write lock, and a connection that
/// had to upgrade its read lock for it was refused at once ("database is
/// locked": r2d2 logged it as an error, then retried, on about one first
/// start in four). Once the file is in WAL, opening needs no write lock.
fn open_pool(
    url: &DatabaseUrl,
    max_size: u32,
    on_connect_failure: Box<dyn r2d2::HandleError<r2d2::Error>>,
) -> Result<Pool, DbError> {
    // A SQLite path helps; a PostgreSQL URL may hold a password.
    let cannot_open = |e: &dyn std::fmt::Display| match url {
        DatabaseUrl::Sqlite(path) => DbError::Open(format!("{path}: {e}")),
        DatabaseUrl::Postgres(_) => DbError::Open(e.to_string()),
    };
    let manager = ConnectionManager { url: url.clone() };
    let mut first = manager.connect().map_err(|e| cannot_open(&e))?;
    run_migrations(&mut first)?;
    let folded = participants::fold_names(&mut first)?;
    if folded > 0 {
        tracing::info!(folded, "participants' names folded for search");
    }
    drop(first);
    r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .error_handler(on_connect_failure)
        .build(manager)
        .map_err(|e| cannot_open(&e))
}

/// Connections the pool could not open or found broken (it keeps trying),
/// as warnings through the app's own log: the first at once, then at most
/// one every [`CONNECT_FAILURES_EVERY`] with how many were left out. With
/// the database down, the pool retries every connection every few seconds
/// (72 lines in 25 s for a pool of 8, measured).
#[derive(Debug, Default)]
struct LogConnectFailures {
    /// When the last warning went out, and failures since.
    last: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

const CONNECT_FAILURES_EVERY: Duration = Duration::from_secs(10);

impl LogConnectFailures {
    /// `Some(failures left out since the last warning)` if this one is to
    /// be logged.
    fn to_log(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (at, left_out) = &mut *last;
        if at.is_some_and(|t| t.elapsed() < CONNECT_FAILURES_EVERY) {
            *left_out += 1;
            return None;
        }
        *at = Some(std::time::Instant::now());
        Some(std::mem::take(left_out))
    }
}

impl r2d2::HandleError<r2d2::Error> for LogConnectFailures {
    fn handle_error(&self, error: r2d2::Error) {
        if let Some(left_out) = self.to_log() {
            tracing::warn!(%error, left_out, "database connection failed; the pool keeps trying");
        }
    }
}

pub fn run_migrations(conn: &mut DbConnection) -> Result<(), DbError> {
    let result = match conn {
        DbConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// Runs `work` with a pooled connection on actix's blocking thread pool, so
/// diesel never blocks the async executor.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(|_| DbError::Cancelled)?
}

/// Runs `work` in a transaction that is going to write. On SQLite it begins
/// `IMMEDIATE`: the write lock is taken (waiting up to `busy_timeout`) before
/// the first read, so the transaction never has to upgrade a read lock
/// half-way — an upgrade SQLite refuses at once with "database is locked"
/// when another writer got in first. On PostgreSQL, and nested inside another
/// transaction, it is a plain `transaction`.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    begin(conn, "BEGIN IMMEDIATE", "BEGIN", work)
}

/// Runs `work`'s reads on one snapshot of the database, so numbers read by
/// several statements agree: a scan committed between two of them would
/// otherwise count in one and not in the other (a total one more than the
/// sum of its sessions). PostgreSQL: `REPEATABLE READ, READ ONLY`; SQLite:
/// a deferred transaction, whose first read fixes its snapshot of the WAL.
/// Nested in another transaction, `work` runs in that one.
pub fn read_snapshot<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    begin(
        conn,
        "BEGIN DEFERRED",
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        work,
    )
}

/// A [`write_transaction`] in which every statement finds its rows by key:
/// the group writers' batches (door check-ins, join links). On PostgreSQL
/// it rules out sequential scans and plans each statement for the table as
/// it is now. On a fresh event the tables have no statistics until
/// autovacuum's next ANALYZE, and a plan cached while they were nearly
/// empty stays with the connection's prepared statement as they grow:
/// a scan of the whole `attendance` table for a batch's
/// `participant_id = ANY(…)` (4.4 ms a batch at 20,000 records instead of
/// 0.03 ms), or the log's (event_id, at) index filtered for the batch's
/// scan ids (13 ms a batch at 30,000 log rows instead of 0.1 ms; door rush
/// 1,750 → 3,000 check-ins/s). Planning afresh costs far less than that,
/// but only for the batch's opening reads (`read`): before `write` the
/// statements go back to cached plans. Every inserted row makes PostgreSQL
/// run foreign-key checks and trigger statements, cached plans of their
/// own, and planning each of them afresh took 44 % of a check-in writer
/// backend's CPU (`perf`, door rush).
pub fn keyed_write_transaction<R, T, E>(
    conn: &mut DbConnection,
    mut read: impl FnMut(&mut DbConnection) -> Result<R, E>,
    mut write: impl FnMut(&mut DbConnection, R) -> Result<T, E>,
) -> Result<T, E>
where
    E: TransactionError,
{
    begin(
        conn,
        "BEGIN IMMEDIATE",
        "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_custom_plan",
        |conn| {
            let found = read(conn)?;
            if let DbConnection::Postgresql(pg) = conn {
                pg.batch_execute("SET LOCAL plan_cache_mode = DEFAULT")?;
            }
            write(conn, found)
        },
    )
}

/// [`keyed_write_transaction`] after lookups in small tables (a door
/// batch's token, event and session), whose result `read` and `write` get.
/// On PostgreSQL the lookups run before `BEGIN`, on the connection's cached
/// plans: they find a handful of rows whatever their plan, and under the
/// transaction's `enable_seqscan = off` each of their `= ANY($1)` runs was
/// planned afresh, 0.24 ms of planning a batch against 0.07 ms of running
/// (`pg_stat_statements`, door rush; BENCHMARKS.md, history 55). Changing
/// the settings after them inside the transaction cost a round trip of its
/// own. On SQLite they run inside the transaction: outside one, each
/// statement would take and give back its own read lock.
pub fn keyed_write_transaction_after<L, R, T, E>(
    conn: &mut DbConnection,
    mut look_up: impl FnMut(&mut DbConnection) -> Result<L, E>,
    mut read: impl FnMut(&mut DbConnection, &L) -> Result<R, E>,
    mut write: impl FnMut(&mut DbConnection, &L, R) -> Result<T, E>,
) -> Result<T, E>
where
    E: TransactionError,
{
    if matches!(conn, DbConnection::Postgresql(_)) && !in_transaction(conn) {
        let looked_up = look_up(conn)?;
        return keyed_write_transaction(
            conn,
            |conn| read(conn, &looked_up),
            |conn, found| write(conn, &looked_up, found),
        );
    }
    keyed_write_transaction(
        conn,
        |conn| {
            let looked_up = look_up(conn)?;
            let found = read(conn, &looked_up)?;
            Ok((looked_up, found))
        },
        |conn, (looked_up, found)| write(conn, &looked_up, found),
    )
}

/// How many times in all a transaction runs when PostgreSQL aborts it for
/// a reason that running it again cures.
const ATTEMPTS: u32 = 3;

fn begin<T, E, F>(
    conn: &mut DbConnection,
    sqlite_begin: &str,
    postgres_begin: &str,
    mut work: F,
) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: TransactionError,
{
    // Nested in another transaction (a savepoint), the lock is already held
    // and the settings made, and a rerun is the outer transaction's to make.
    if in_transaction(conn) {
        return conn.transaction(work);
    }
    let mut attempt = 1;
    loop {
        match run_once(conn, sqlite_begin, postgres_begin, &mut work) {
            Err(failed)
                if attempt < ATTEMPTS
                    && matches!(conn, DbConnection::Postgresql(_))
                    && failed.diesel_error().is_some_and(rerun_may_succeed) =>
            {
                tracing::warn!(
                    attempt,
                    "PostgreSQL aborted a transaction; running it again"
                );
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Whether `conn` is inside a transaction (its statements then belong to
/// that one, read-only if it is a [`read_snapshot`]).
pub fn in_transaction(conn: &mut DbConnection) -> bool {
    use diesel::connection::TransactionManager;
    type Manager = <DbConnection as Connection>::TransactionManager;
    matches!(
        Manager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(Some(_))
    )
}

fn run_once<T, E, F>(
    conn: &mut DbConnection,
    sqlite_begin: &str,
    postgres_begin: &str,
    work: &mut F,
) -> Result<T, E>
where
    F: FnMut(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConnection as Connection>::TransactionManager;
    match conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, sqlite_begin)?
        }
        DbConnection::Postgresql(pg) => {
            AnsiTransactionManager::begin_transaction_sql(pg, postgres_begin)?
        }
    }
    match work(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(commit_failed) => {
                let _ = Manager::rollback_transaction(conn);
                Err(commit_failed.into())
            }
        },
        Err(failed) => {
            let _ = Manager::rollback_transaction(conn);
            Err(failed)
        }
    }
}

/// Whether PostgreSQL gave up on a transaction for a reason of timing, not
/// of its data: a serialization failure, or a deadlock's victim (two
/// writers locking the same people's rows in different orders, which their
/// triggers can do). Diesel reports a deadlock, a lock timeout and a
/// cancelled statement as `Unknown`, without the SQLSTATE, and the message
/// is in the server's language, so every `Unknown` counts: one that is
/// about the data fails again, at the cost of a rerun. Violated constraints
/// have kinds of their own and never count; nor does a lost connection,
/// which the pool's next connection answers.
fn rerun_may_succeed(error: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind::{SerializationFailure, Unknown};
    matches!(
        error,
        diesel::result::Error::DatabaseError(SerializationFailure | Unknown, _)
    )
}

/// An error a transaction can end with, which may carry the database's.
pub trait TransactionError: From<diesel::result::Error> {
    fn diesel_error(&self) -> Option<&diesel::result::Error>;
}

impl TransactionError for diesel::result::Error {
    fn diesel_error(&self) -> Option<&diesel::result::Error> {
        Some(self)
    }
}

impl TransactionError for DbError {
    fn diesel_error(&self) -> Option<&diesel::result::Error> {
        match self {
            DbError::Query(error) => Some(error),
            _ => None,
        }
    }
}

/// Tells other instances (PostgreSQL LISTEN, see live/listener.rs) that
/// these events' numbers changed: one NOTIFY each, in one statement. Call
/// it after the change is committed, never inside a write transaction:
/// PostgreSQL serialises the commits of every transaction that notified,
/// on all connections, by a lock held through each one's WAL flush (with
/// eight clients committing one insert each, 9,400–9,900 commits/s
/// without NOTIFY, 4,700–4,800 with one, 9,650–9,750 with it sent after
/// the commit; BENCHMARKS.md history 35). On SQLite (one instance) there
/// is no one else to tell.
pub fn notify_live(conn: &mut DbConnection, event_ids: &[i32]) -> diesel::QueryResult<()> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    if event_ids.is_empty() {
        return Ok(());
    }
    let statements: Vec<String> = event_ids
        .iter()
        .map(|id| format!("NOTIFY rollcall_live, '{id}'"))
        .collect();
    pg.batch_execute(&statements.join("; "))
}

/// Milliseconds since the Unix epoch: the one time representation in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the db layer's unit tests share: the statements a connection ran,
/// and how SQLite plans one.
#[cfg(test)]
pub(crate) mod testing {
    use super::DbConnection;
    use diesel::connection::{Connection, InstrumentationEvent};
    use diesel::prelude::*;
    use std::sync::{Arc, Mutex};

    /// From now on, the SQL of each statement `conn` starts, its binds left
    /// out, in order.
    pub fn record_statements(conn: &mut DbConnection) -> Arc<Mutex<Vec<String>>> {
        let statements = Arc::new(Mutex::new(Vec::new()));
        let seen = statements.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let sql = query.to_string();
                let sql = sql.split(" -- binds:").next().unwrap_or_default();
                seen.lock().unwrap().push(sql.to_string());
            }
        });
        statements
    }

    /// A migrated SQLite database at `url` (":memory:" or a file) holding
    /// one event, id 1, slug `forum`, then the test's own rows (`rows`,
    /// SQL run after the event is in).
    pub fn forum(url: &str, rows: &str) -> DbConnection {
        use diesel::connection::SimpleConnection;
        let mut conn = DbConnection::establish(url).unwrap();
        super::run_migrations(&mut conn).unwrap();
        conn.batch_execute(
            "INSERT INTO events (id, slug, title, timezone, starts_at, ends_at, created_at) \
             VALUES (1, 'forum', 'Forum', 'UTC', 0, 100, 0)",
        )
        .unwrap();
        conn.batch_execute(rows).unwrap();
        conn
    }

    /// SQLite's plan for `sql`, a step a line (`EXPLAIN QUERY PLAN`'s detail).
    pub fn sqlite_plan(conn: &mut DbConnection, sql: &str) -> Vec<String> {
        #[derive(QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<Step>(conn)
            .unwrap()
            .into_iter()
            .map(|s| s.detail)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    /// A SQLite database written before the participant grid (people who
    /// attended in person, online, online short of the minimum, not at
    /// all, cancelled, in two events) keeps every count through the
    /// upgrade, and the grid keeps counting after it.
    #[test]
    fn upgrading_sqlite_to_the_participant_grid_keeps_every_count() {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        use diesel_migrations::MigrationHarness;
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
        while !conn.pending_migrations(super::SQLITE_MIGRATIONS).unwrap()[0]
            .name()
            .to_string()
            .contains("participant_grid")
        {
            conn.run_next_migration(super::SQLITE_MIGRATIONS).unwrap();
        }
        conn.batch_execute(
            "INSERT INTO events (id, slug, title, timezone, starts_at, ends_at, created_at) \
             VALUES (1, 'forum', 'Forum', 'UTC', 0, 100, 0), (2, 'other', 'Other', 'UTC', 0, 100, 0); \
             INSERT INTO agenda_sessions (id, event_id, slug, title, starts_at, ends_at, format, online_min_minutes) \
             VALUES (1, 1, 'talk', 'Talk', 0, 50, 'hybrid', 0), (2, 1, 'stream', 'Stream', 50, 100, 'online', 10), \
                    (3, 2, 'talk', 'Talk', 0, 50, 'hybrid', 0);
             INSERT INTO participants (id, event_id, full_name, email, affiliation, country, mode, \
                                       category, status, checkin_code, page_token, created_at) VALUES \
             (1, 1, 'A', 'a@x', '', 'DE', 'offline', 'delegate', 'registered', 'c1', 't1', 0), \
             (2, 1, 'B', 'b@x', '', 'DE', 'online', 'delegate', 'registered', 'c2', 't2', 0), \
             (3, 1, 'C', 'c@x', '', 'FR', 'online', 'speaker', 'registered', 'c3', 't3', 0), \
             (4, 1, 'D', 'd@x', '', 'FR', 'offline', 'delegate', 'cancelled', 'c4', 't4', 0), \
             (5, 1, 'E', 'e@x', '', 'DE', 'offline', 'delegate', 'registered', 'c5', 't5', 0), \
             (6, 2, 'F', 'f@x', '', 'DE', 'offline', 'delegate', 'registered', 'c6', 't6', 0); \
             INSERT INTO attendance (event_id, participant_id, session_id, mode, source, recorded_at) VALUES \
             (1, 1, 1, 'offline', 'door_scan', 1), (1, 1, NULL, 'offline', 'door_scan', 1), \
             (1, 2, 1, 'online', 'join_link', 1), (1, 3, 2, 'online', 'join_link', 60), \
             (1, 4, 1, 'offline', 'door_scan', 1), (2, 6, 3, 'offline', 'door_scan', 1);",
        )
        .unwrap();
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Cell {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            event_id: i32,
            #[diesel(sql_type = diesel::sql_types::Text)]
            cell: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            people: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            attended: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            in_person: i64,
        }
        let recount =
            "SELECT event_id, status || ' ' || country || ' ' || mode || ' ' || category AS cell, \
               COUNT(*) AS people, SUM(att >= 0) AS attended, SUM(att = 1) AS in_person FROM ( \
                 SELECT p.*, COALESCE((SELECT MAX(a.mode = 'offline') FROM attendance a \
                                       WHERE a.participant_id = p.id AND a.counted), -1) AS att \
                 FROM participants p) \
             GROUP BY event_id, cell ORDER BY event_id, cell";
        let grid =
            "SELECT event_id, status || ' ' || country || ' ' || mode || ' ' || category AS cell, \
               people, attended, in_person FROM participant_grid \
             WHERE people > 0 ORDER BY event_id, cell";
        let before: Vec<Cell> = diesel::sql_query(recount).load(&mut conn).unwrap();
        // Person 3 watched too little: joined, not attended.
        assert!(before.contains(&Cell {
            event_id: 1,
            cell: "registered FR online speaker".into(),
            people: 1,
            attended: 0,
            in_person: 0,
        }));

        conn.run_pending_migrations(super::SQLITE_MIGRATIONS)
            .unwrap();
        let upgraded: Vec<Cell> = diesel::sql_query(grid).load(&mut conn).unwrap();
        assert_eq!(upgraded, before);

        conn.batch_execute(
            "INSERT INTO attendance (event_id, participant_id, session_id, mode, source, recorded_at) \
             VALUES (1, 5, 1, 'offline', 'door_scan', 2); \
             INSERT INTO watching (participant_id, session_id, event_id, seconds_watched, last_seen) \
             VALUES (3, 2, 1, 900, 90);",
        )
        .unwrap();
        let after: Vec<Cell> = diesel::sql_query(grid).load(&mut conn).unwrap();
        assert_eq!(
            after,
            diesel::sql_query(recount).load::<Cell>(&mut conn).unwrap()
        );
        assert_ne!(after, before, "the scan and the minutes watched count");
    }

    /// Every connection of a pool on a new SQLite file opens at the first
    /// try: none is refused while another turns the file to WAL.
    #[test]
    fn a_new_sqlite_file_opens_every_pooled_connection_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        #[derive(Debug)]
        struct Count(Arc<AtomicUsize>);
        impl diesel::r2d2::HandleError<diesel::r2d2::Error> for Count {
            fn handle_error(&self, _: diesel::r2d2::Error) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let failures = Arc::new(AtomicUsize::new(0));
        for n in 0..16 {
            let path = dir.path().join(format!("fresh-{n}.db"));
            let url = DatabaseUrl::Sqlite(path.to_string_lossy().into_owned());
            let pool = super::open_pool(&url, 8, Box::new(Count(failures.clone()))).unwrap();
            assert_eq!(pool.state().connections, 8);
        }
        assert_eq!(failures.load(Ordering::SeqCst), 0, "connections refused");
    }

    /// A database that can't be opened is named, the SQLite file by its
    /// path, and a PostgreSQL URL's password is left out.
    #[test]
    fn a_database_that_cannot_be_opened_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("rollcall.db");
        let path = path.to_string_lossy().into_owned();
        let error = super::connect(&DatabaseUrl::Sqlite(path.clone()), 2)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("cannot open the database: "), "{error}");
        assert!(error.contains(&path), "{error}");

        let url = "postgres://door:hunter2-secret@127.0.0.1:1/rollcall".to_string();
        let error = super::connect(&DatabaseUrl::Postgres(url), 2)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("cannot open the database: "), "{error}");
        assert!(!error.contains("hunter2-secret"), "{error}");
    }

    /// An outage's connection failures make one warning, then one every ten
    /// seconds at most, not one per connection per attempt.
    #[test]
    fn connection_failures_are_logged_once_in_a_while() {
        let log = super::LogConnectFailures::default();
        let logged: Vec<Option<u64>> = (0..5).map(|_| log.to_log()).collect();
        assert_eq!(logged, vec![Some(0), None, None, None, None]);
        // Ten seconds on, the next says how many were left out.
        log.last.lock().unwrap().0 =
            Some(std::time::Instant::now() - super::CONNECT_FAILURES_EVERY);
        assert_eq!(log.to_log(), Some(4));
    }

    #[test]
    fn database_urls_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("rollcall.db"),
            Ok(DatabaseUrl::Sqlite("rollcall.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/rollcall.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/rollcall.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@localhost/rc"),
            Ok(DatabaseUrl::Postgres("postgres://u@localhost/rc".into()))
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("  ").is_err());
    }
}
