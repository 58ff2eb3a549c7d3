//! The floor under the SQLite door rush on this machine: the fewest
//! check-ins a second could cost when one SQLite writer must make each one
//! durable before answering. A bare actix-web server (a child process, two
//! workers, as `rollcall serve` has on two cores) takes `POST /scan` with a
//! code, hands it to one writer thread, and answers once the writer's batch
//! is committed. The writer does only what any check-in needs: find the
//! person by code (a unique index over 400,000 people), insert the record
//! (one unique index: once per person and session), commit with Rollcall's
//! SQLite settings (WAL, `synchronous = FULL`). No scan log, no tallies, no
//! time indexes, no auth, no sessions, no metrics. The same client drives it
//! as drives Rollcall, at the same concurrency, and `/healthz` is measured
//! beside it, so its share is read like the door rush's.
//!
//! ```sh
//! target/release/door-floor --seconds 10 --connections 64
//! ```

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use hyper::Method;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[allow(dead_code)]
#[path = "../http.rs"]
mod http;

use http::{Call, LoadResult, Verdict};

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
    /// Internal: serve this database on loopback, printing the port.
    #[arg(long, hide = true)]
    serve: Option<PathBuf>,
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

/// The most scans decided in one transaction, as Rollcall's writer.
const MAX_BATCH: usize = 256;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.serve {
        Some(database) => serve(database),
        None => drive(&args),
    }
}

/// Rollcall's per-connection SQLite settings (`src/db/mod.rs`).
fn open(database: &Path) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::establish(&database.to_string_lossy())?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA mmap_size = 268435456; \
         PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

fn seed(database: &Path, participants: usize) -> anyhow::Result<Vec<String>> {
    let mut conn = open(database)?;
    conn.batch_execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE);
         CREATE TABLE records (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL,
             session_id INTEGER NOT NULL, recorded_at BIGINT NOT NULL,
             UNIQUE (person_id, session_id));",
    )?;
    // 128-bit random codes, as Rollcall's.
    let codes: Vec<String> = (0..participants)
        .map(|_| format!("{:032x}", rand::random::<u128>()))
        .collect();
    conn.transaction(|conn| {
        for chunk in codes.chunks(10_000) {
            let rows: Vec<_> = chunk.iter().map(|c| people::code.eq(c)).collect();
            diesel::insert_into(people::table)
                .values(&rows)
                .execute(conn)?;
        }
        diesel::QueryResult::Ok(())
    })?;
    Ok(codes)
}

struct Scan {
    code: String,
    answer: oneshot::Sender<&'static str>,
}

/// The server side: actix-web on two workers, one writer thread.
fn serve(database: &Path) -> anyhow::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let (queue, scans) = mpsc::channel::<Scan>(8 * MAX_BATCH);
    let conn = open(database)?;
    std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || write_batches(conn, scans))?;

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
/// the commit is durable.
fn write_batches(mut conn: SqliteConnection, mut scans: mpsc::Receiver<Scan>) {
    while let Some(first) = scans.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match scans.try_recv() {
                Ok(scan) => batch.push(scan),
                Err(_) => break,
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let decided = conn.immediate_transaction(|conn| {
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
                .collect::<diesel::QueryResult<Vec<_>>>()
        });
        match decided {
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

fn drive(args: &Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("door-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database = dir.join("floor.db");
    let result = seed(&database, args.participants).and_then(|mut codes| {
        // People reach the door in no particular order.
        use rand::{seq::SliceRandom, SeedableRng};
        codes.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2026));
        measure(args, &database, codes)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(args: &Args, database: &Path, codes: Vec<String>) -> anyhow::Result<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(database)
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
        )
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
