//! The floor under the door rush on this machine: the fewest check-ins a
//! second could cost when a writer must make each one durable before
//! answering. A bare actix-web server (a child process, two workers, as
//! `rollcall serve` has on two cores) takes `POST /scan` with a code, hands
//! it to its writers, and answers once the writer's batch is committed. A
//! writer does only what any check-in needs: find the person by code (a
//! unique index over 400,000 people), insert the record (one unique index:
//! once per person and session), commit with Rollcall's settings. No scan
//! log, no tallies, no time indexes, no foreign keys, no auth, no sessions,
//! no metrics. The same client drives it as drives Rollcall, at the same
//! concurrency, and `/healthz` is measured beside it, so its share is read
//! like the door rush's.
//!
//! - SQLite (the default): one writer thread, a statement per scan, as
//!   SQLite serves them from memory (WAL, `synchronous = FULL`).
//! - PostgreSQL (`--postgres`, on a scratch database it creates and drops):
//!   two writer threads, as Rollcall has on two cores, and two statements
//!   a batch (the people found with `= ANY`, the records inserted in one
//!   multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`), since each
//!   statement is a round trip; the server's default durability (a WAL
//!   flush per commit).
//!
//! ```sh
//! target/release/door-floor --seconds 10 --connections 64
//! target/release/door-floor --postgres postgres://postgres@127.0.0.1:54330/postgres
//! ```

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use hyper::Method;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[allow(dead_code)]
#[path = "../http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "../seed.rs"]
mod seed;

use http::{Call, LoadResult, Verdict};
use rollcall::db::DatabaseUrl;
use seed::{Backend, Scratch};

#[derive(Parser)]
struct Args {
    /// People registered (the door rush seeds 400,000).
    #[arg(long, default_value_t = 400_000)]
    participants: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measure PostgreSQL's floor instead, on a scratch database created
    /// on this server (postgres://USER@HOST:PORT/postgres) and dropped after.
    #[arg(long)]
    postgres: Option<String>,
    /// What a PostgreSQL check-in writes: the floor's own two tables
    /// (`bare`), or Rollcall's schema seeded as the door rush seeds it,
    /// with its indexes, foreign keys and triggers: the attendance record
    /// alone (`attendance`) or with its scan-log row (`attendance-and-log`).
    /// The reads stay the floor's one statement a batch.
    #[arg(long, value_enum, default_value_t = Schema::Bare)]
    schema: Schema,
    /// SQL run on the seeded database before the run (to measure what a
    /// part of the schema costs, e.g. "ALTER TABLE attendance DROP
    /// CONSTRAINT attendance_event_id_fkey").
    #[arg(long)]
    alter: Option<String>,
    /// Writer threads (default: as `rollcall serve` has on two cores, one
    /// for SQLite and two for PostgreSQL).
    #[arg(long)]
    writers: Option<usize>,
    /// Internal: serve this database (a SQLite path or a PostgreSQL URL) on
    /// loopback, printing the port.
    #[arg(long, hide = true)]
    serve: Option<String>,
}

diesel::table! {
    people (id) {
        id -> Integer,
        code -> Text,
    }
}

diesel::table! {
    records (id) {
        id -> Integer,
        person_id -> Integer,
        session_id -> Integer,
        recorded_at -> BigInt,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Schema {
    Bare,
    Attendance,
    AttendanceAndLog,
}

impl Schema {
    fn name(self) -> &'static str {
        match self {
            Schema::Bare => "bare",
            Schema::Attendance => "attendance",
            Schema::AttendanceAndLog => "attendance-and-log",
        }
    }
}

/// The most scans decided in one transaction, as Rollcall's writer.
const MAX_BATCH: usize = 256;

/// Writer threads, as `rollcall serve` has on two cores (`startup.rs`).
const SQLITE_WRITERS: usize = 1;
const POSTGRES_WRITERS: usize = 2;

impl Args {
    fn writers(&self) -> usize {
        let default = match self.postgres {
            Some(_) => POSTGRES_WRITERS,
            None => SQLITE_WRITERS,
        };
        self.writers.unwrap_or(default).max(1)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.serve {
        Some(database) => serve(
            &DatabaseUrl::parse(database).map_err(anyhow::Error::msg)?,
            args.writers(),
            args.schema,
        ),
        None => drive(&args),
    }
}

/// Rollcall's per-connection SQLite settings (`src/db/mod.rs`).
fn open_sqlite(database: &str) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::establish(database)?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA mmap_size = 268435456; \
         PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

/// The people, 10,000 a statement, on either backend's connection.
macro_rules! insert_people {
    ($conn:expr, $codes:expr) => {{
        for chunk in $codes.chunks(10_000) {
            let rows: Vec<_> = chunk.iter().map(|c| people::code.eq(c)).collect();
            diesel::insert_into(people::table)
                .values(&rows)
                .execute($conn)?;
        }
        diesel::QueryResult::Ok(())
    }};
}

fn seed(database: &DatabaseUrl, participants: usize) -> anyhow::Result<Vec<String>> {
    // 128-bit random codes, as Rollcall's.
    let codes: Vec<String> = (0..participants)
        .map(|_| format!("{:032x}", rand::random::<u128>()))
        .collect();
    match database {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = open_sqlite(path)?;
            conn.batch_execute(
                "CREATE TABLE people (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE);
                 CREATE TABLE records (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL,
                     session_id INTEGER NOT NULL, recorded_at BIGINT NOT NULL,
                     UNIQUE (person_id, session_id));",
            )?;
            conn.transaction(|conn| insert_people!(conn, &codes))?;
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = PgConnection::establish(url)?;
            conn.batch_execute(
                "CREATE TABLE people (id SERIAL PRIMARY KEY, code TEXT NOT NULL UNIQUE);
                 CREATE TABLE records (id SERIAL PRIMARY KEY, person_id INTEGER NOT NULL,
                     session_id INTEGER NOT NULL, recorded_at BIGINT NOT NULL,
                     UNIQUE (person_id, session_id));",
            )?;
            conn.transaction(|conn| insert_people!(conn, &codes))?;
            conn.batch_execute("ANALYZE")?;
        }
    }
    Ok(codes)
}

struct Scan {
    code: String,
    answer: oneshot::Sender<&'static str>,
}

/// The server side: actix-web on two workers, the backend's writer threads
/// sharing one queue.
fn serve(database: &DatabaseUrl, writers: usize, schema: Schema) -> anyhow::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let (queue, scans) = mpsc::channel::<Scan>(8 * MAX_BATCH);
    let scans = Arc::new(Mutex::new(scans));
    match database {
        DatabaseUrl::Sqlite(path) => {
            for n in 0..writers {
                let (mut conn, scans) = (open_sqlite(path)?, scans.clone());
                std::thread::Builder::new()
                    .name(format!("floor-writer-{n}"))
                    .spawn(move || {
                        write_batches(&scans, |batch, now| {
                            conn.immediate_transaction(|conn| decide_one_by_one(conn, batch, now))
                        })
                    })?;
            }
        }
        DatabaseUrl::Postgres(url) => {
            let door = match schema {
                Schema::Bare => None,
                _ => Some(RollcallDoor::find(
                    &mut PgConnection::establish(url)?,
                    schema,
                )?),
            };
            for n in 0..writers {
                let (mut conn, scans) = (PgConnection::establish(url)?, scans.clone());
                std::thread::Builder::new()
                    .name(format!("floor-writer-{n}"))
                    .spawn(move || {
                        write_batches(&scans, |batch, now| {
                            conn.transaction(|conn| match door {
                                None => decide_bare(conn, batch, now),
                                Some(door) => door.decide(conn, batch, now),
                            })
                            .map(|decided| decided.into_iter().map(|(status, _)| status).collect())
                        })
                    })?;
            }
        }
    }

    #[derive(serde::Deserialize)]
    struct ScanBody {
        code: String,
    }
    async fn scan(queue: web::Data<mpsc::Sender<Scan>>, body: web::Json<ScanBody>) -> HttpResponse {
        let (answer, answered) = oneshot::channel();
        let scan = Scan {
            code: body.into_inner().code,
            answer,
        };
        if queue.send(scan).await.is_err() {
            return HttpResponse::ServiceUnavailable().finish();
        }
        match answered.await {
            Ok(status) => HttpResponse::Ok()
                .content_type("application/json")
                .body(format!(r#"{{"status":"{status}"}}"#)),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }

    actix_web::rt::System::new().block_on(async move {
        let queue = web::Data::new(queue);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(queue.clone())
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                )
                .route("/scan", web::post().to(scan))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))?;
        println!("{}", server.addrs()[0].port());
        server.run().await?;
        anyhow::Ok(())
    })
}

/// Takes whatever is queued, decides it in one transaction, answers once
/// the commit is durable. The queue stays locked while a batch is taken, as
/// in Rollcall's group writer.
fn write_batches(
    scans: &Mutex<mpsc::Receiver<Scan>>,
    mut decide: impl FnMut(&[Scan], i64) -> diesel::QueryResult<Vec<&'static str>>,
) {
    loop {
        let batch = {
            let mut scans = scans.lock().unwrap_or_else(|e| e.into_inner());
            let Some(first) = scans.blocking_recv() else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match scans.try_recv() {
                    Ok(scan) => batch.push(scan),
                    Err(_) => break,
                }
            }
            batch
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match decide(&batch, now) {
            Ok(statuses) => {
                for (scan, status) in batch.into_iter().zip(statuses) {
                    let _ = scan.answer.send(status);
                }
            }
            // Dropping the senders answers each scan with an error.
            Err(error) => eprintln!("batch failed: {error}"),
        }
    }
}

/// SQLite: a lookup and an insert per scan, each served from memory.
fn decide_one_by_one(
    conn: &mut SqliteConnection,
    batch: &[Scan],
    now: i64,
) -> diesel::QueryResult<Vec<&'static str>> {
    batch
        .iter()
        .map(|scan| {
            let person: Option<i32> = people::table
                .filter(people::code.eq(&scan.code))
                .select(people::id)
                .first(conn)
                .optional()?;
            let Some(person) = person else {
                return Ok("unknown");
            };
            let inserted = diesel::insert_into(records::table)
                .values((
                    records::person_id.eq(person),
                    records::session_id.eq(1),
                    records::recorded_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            Ok(if inserted == 1 {
                "accepted"
            } else {
                "duplicate"
            })
        })
        .collect()
}

/// A scan's status and the person it found.
type Decided = (&'static str, Option<i32>);

/// PostgreSQL: two statements for the whole batch, each a round trip: the
/// people found by code (`find`), their records inserted (`insert`, given
/// the ids in order, so two writers wait for each other instead of
/// deadlocking, and giving back those that were new). The first scan of a
/// new record is accepted; a second in the batch is a duplicate.
fn decide_together(
    conn: &mut PgConnection,
    batch: &[Scan],
    find: impl FnOnce(&mut PgConnection, &[&str]) -> diesel::QueryResult<Vec<(String, i32)>>,
    insert: impl FnOnce(&mut PgConnection, &[i32]) -> diesel::QueryResult<Vec<i32>>,
) -> diesel::QueryResult<Vec<Decided>> {
    let codes: Vec<&str> = batch.iter().map(|scan| scan.code.as_str()).collect();
    let found: HashMap<String, i32> = find(conn, &codes)?.into_iter().collect();
    let mut ids: Vec<i32> = found.values().copied().collect();
    ids.sort_unstable();
    let mut new: HashSet<i32> = if ids.is_empty() {
        HashSet::new()
    } else {
        insert(conn, &ids)?.into_iter().collect()
    };
    Ok(batch
        .iter()
        .map(|scan| match found.get(&scan.code) {
            None => ("unknown", None),
            Some(&id) if new.remove(&id) => ("accepted", Some(id)),
            Some(&id) => ("duplicate", Some(id)),
        })
        .collect())
}

/// The floor's own tables.
fn decide_bare(
    conn: &mut PgConnection,
    batch: &[Scan],
    now: i64,
) -> diesel::QueryResult<Vec<Decided>> {
    decide_together(
        conn,
        batch,
        |conn, codes| {
            people::table
                .filter(people::code.eq_any(codes))
                .select((people::code, people::id))
                .load(conn)
        },
        |conn, ids| {
            let rows: Vec<_> = ids
                .iter()
                .map(|&id| {
                    (
                        records::person_id.eq(id),
                        records::session_id.eq(1),
                        records::recorded_at.eq(now),
                    )
                })
                .collect();
            diesel::insert_into(records::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .returning(records::person_id)
                .get_results(conn)
        },
    )
}

/// The bench event's session in Rollcall's schema, and what to write there.
#[derive(Clone, Copy)]
struct RollcallDoor {
    event_id: i32,
    session_id: i32,
    log: bool,
}

impl RollcallDoor {
    fn find(conn: &mut PgConnection, schema: Schema) -> anyhow::Result<Self> {
        use rollcall::db::schema::{agenda_sessions, events};
        let (event_id, session_id) = events::table
            .inner_join(agenda_sessions::table)
            .filter(events::slug.eq(seed::EVENT))
            .select((events::id, agenda_sessions::id))
            .first(conn)
            .context("the seeded event and its session")?;
        Ok(Self {
            event_id,
            session_id,
            log: schema == Schema::AttendanceAndLog,
        })
    }

    /// Into Rollcall's tables: the people by check-in code, their in-person
    /// records, and (with the log) one log row a scan, as Rollcall's door
    /// batch writes them.
    fn decide(
        self,
        conn: &mut PgConnection,
        batch: &[Scan],
        now: i64,
    ) -> diesel::QueryResult<Vec<Decided>> {
        use rollcall::db::schema::{attendance as att, checkin_log as log, participants};
        let decided = decide_together(
            conn,
            batch,
            |conn, codes| {
                participants::table
                    .filter(participants::checkin_code.eq_any(codes))
                    .select((participants::checkin_code, participants::id))
                    .load(conn)
            },
            |conn, ids| {
                let rows: Vec<_> = ids
                    .iter()
                    .map(|&id| {
                        (
                            att::event_id.eq(self.event_id),
                            att::participant_id.eq(id),
                            att::session_id.eq(Some(self.session_id)),
                            att::mode.eq("offline"),
                            att::source.eq("door_scan"),
                            att::door.eq(Some("North")),
                            att::recorded_by.eq(Some("door-floor")),
                            att::recorded_at.eq(now),
                        )
                    })
                    .collect();
                diesel::insert_into(att::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .returning(att::participant_id)
                    .get_results(conn)
            },
        )?;
        if self.log {
            let scan_ids: Vec<String> = batch
                .iter()
                .map(|_| uuid::Uuid::new_v4().to_string())
                .collect();
            let rows: Vec<_> = decided
                .iter()
                .zip(&scan_ids)
                .map(|(&(status, person), scan_id)| {
                    (
                        log::event_id.eq(self.event_id),
                        log::scan_id.eq(Some(scan_id.as_str())),
                        log::session_id.eq(Some(self.session_id)),
                        log::participant_id.eq(person),
                        log::door.eq(Some("North")),
                        log::actor.eq("door-floor"),
                        log::action.eq("scan"),
                        log::outcome.eq(status),
                        log::reason.eq(None::<&str>),
                        log::answer.eq(""),
                        log::at.eq(now),
                    )
                })
                .collect();
            diesel::insert_into(log::table)
                .values(&rows)
                .execute(conn)?;
        }
        Ok(decided)
    }
}

fn drive(args: &Args) -> anyhow::Result<()> {
    let backend = match args.postgres {
        Some(_) => Backend::Postgres,
        None => Backend::Sqlite,
    };
    let writers = args.writers();
    let scratch = Scratch::create(backend, args.postgres.as_deref())?;
    let mut codes = match args.schema {
        Schema::Bare => seed(&scratch.url, args.participants)?,
        _ if backend == Backend::Sqlite => {
            anyhow::bail!(
                "--schema {} is for PostgreSQL (--postgres)",
                args.schema.name()
            )
        }
        // As the door rush seeds it: one session, nobody in yet.
        _ => seed::seed(
            &scratch.url,
            &seed::Plan {
                participants: args.participants,
                sessions: 1,
                attended_sessions: 0,
                online_share: 0.0,
                earlier_event_participants: 0,
            },
        )?
        .people
        .into_iter()
        .map(|person| person.code)
        .collect(),
    };
    if let Some(sql) = &args.alter {
        match &scratch.url {
            DatabaseUrl::Sqlite(path) => open_sqlite(path)?.batch_execute(sql)?,
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)?.batch_execute(sql)?,
        }
        println!("altered: {sql}");
    }
    // People reach the door in no particular order.
    use rand::{seq::SliceRandom, SeedableRng};
    codes.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2026));
    println!(
        "{}, {writers} writer{}, {} schema",
        backend.name(),
        if writers == 1 { "" } else { "s" },
        args.schema.name()
    );
    measure(args, &scratch.url_string(), codes)
}

fn measure(args: &Args, database: &str, codes: Vec<String>) -> anyhow::Result<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(database)
        .arg("--writers")
        .arg(args.writers().to_string())
        .arg("--schema")
        .arg(args.schema.name())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the server side")?;
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().context("child stdout")?).read_line(&mut port)?;
    let addr = format!(
        "127.0.0.1:{}",
        port.trim().parse::<u16>().context("the port")?
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let seconds = Duration::from_secs(args.seconds);
    let outcome = runtime.block_on(async {
        let healthz = http::closed_loop(
            &addr,
            args.connections,
            seconds,
            None,
            Arc::new(|_| Call {
                method: Method::GET,
                path: "/healthz".into(),
                bearer: None,
                body: None,
            }),
            Arc::new(|status, _| match status {
                200 => Verdict::Good,
                _ => Verdict::Error,
            }),
        )
        .await?;
        let codes = Arc::new(codes);
        let total = codes.len() as u64;
        let door = http::closed_loop(
            &addr,
            args.connections,
            seconds,
            Some(total),
            Arc::new(move |n| Call {
                method: Method::POST,
                path: "/scan".into(),
                bearer: None,
                body: Some(Bytes::from(format!(
                    r#"{{"code":"{}"}}"#,
                    codes[n as usize % codes.len()]
                ))),
            }),
            Arc::new(|status, body| match status {
                200 if http::contains(body, br#""accepted""#) => Verdict::Good,
                200 => Verdict::Other,
                _ => Verdict::Error,
            }),
        )
        .await?;
        anyhow::Ok((healthz, door))
    });
    let _ = child.kill();
    let _ = child.wait();
    let (healthz, door) = outcome?;
    let row = |name: &str, r: &LoadResult| {
        println!(
            "{name:<28} {:>9.0}/s  p50 {:>5.2} ms  p99 {:>5.2} ms  errors {}",
            r.per_second, r.p50_ms, r.p99_ms, r.errors
        );
        if let Some(machine) = &r.machine {
            println!("  {machine}");
        }
    };
    row("/healthz", &healthz);
    row("door floor: first check-ins", &door);
    println!(
        "  as a share of /healthz     {:>8.1} %",
        100.0 * door.per_second / healthz.per_second.max(1.0)
    );
    // A floor with failed requests measures nothing.
    if healthz.errors + door.errors > 0 || door.good == 0 {
        anyhow::bail!(
            "the floor run failed: {} /healthz errors, {} door errors, {} accepted{}",
            healthz.errors,
            door.errors,
            door.good,
            door.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
