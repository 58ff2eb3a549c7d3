//! The door writer's own CPU per first check-in, and then per duplicate of
//! those, with HTTP left out: calls `record_scans` in batches on a copy of a
//! seeded SQLite database and reads the thread's CPU time from
//! `/proc/thread-self/schedstat`. Far less noisy
//! than a door rush on a shared two-core VM, so it can tell apart changes to
//! the writer's statements that move it by 5–10 %.
//!
//! ```sh
//! target/release/rollcall-bench --backend sqlite --scenarios door --keep-databases
//! target/release/writer-cpu --database PATH_IT_PRINTED --batch 64 --scans 10000
//! ```

use anyhow::{bail, Context};
use clap::Parser;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use rollcall::db::checkins::{record_scans, ScanRequest, Subject, Who};
use rollcall::db::{self, DatabaseUrl};
use rollcall::domain::{CheckinCode, CheckinStatus};
use std::path::PathBuf;

// The server's allocator (src/main.rs), so the writer's work is counted as
// the server does it: with glibc's malloc, allocation was 8 % of the
// writer's instructions here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// A SQLite database seeded by `rollcall-bench --keep-databases` (door
    /// rush); it is copied, never changed.
    #[arg(long)]
    database: PathBuf,
    /// Scans per batch (a door rush at 64 connections forms batches of up to 64).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// First check-ins to record (and then to scan again as duplicates).
    #[arg(long, default_value_t = 10_000)]
    scans: usize,
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = Text)]
    checkin_code: String,
}

#[derive(QueryableByName)]
struct Door {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = Text)]
    event: String,
    #[diesel(sql_type = Text)]
    session: String,
    #[diesel(sql_type = BigInt)]
    opened: i64,
}

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    Ok(stat.split_whitespace().next().unwrap_or("0").parse()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = tempfile_path(&args.database);
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", args.database.display());
        if suffix.is_empty() || std::path::Path::new(&from).exists() {
            std::fs::copy(&from, format!("{}{suffix}", scratch.display()))
                .with_context(|| format!("copying {from}"))?;
        }
    }
    let result = run(&args, &scratch);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
    }
    result
}

fn tempfile_path(database: &std::path::Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(format!(".writer-cpu-{}", std::process::id()));
    PathBuf::from(name)
}

fn run(args: &Args, path: &std::path::Path) -> anyhow::Result<()> {
    let pool = db::connect(&DatabaseUrl::Sqlite(path.display().to_string()), 1)?;
    let mut conn = pool.get()?;
    // People scattered over the table, as a door sees them, but the same
    // people every run (a multiplicative hash of the id, not `random()`):
    // with other people each time, callgrind's counts for one build spread
    // over 3.5 %, more than the changes they were to tell apart.
    let codes: Vec<Code> = diesel::sql_query(
        "SELECT checkin_code FROM participants p WHERE status = 'registered' \
         AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.participant_id = p.id) \
         ORDER BY (p.id * 2654435761) % 4294967291 LIMIT ?",
    )
    .bind::<BigInt, _>(args.scans as i64)
    .load(&mut *conn)?;
    if codes.len() < args.scans {
        bail!("only {} people left to check in", codes.len());
    }
    let door: Door = diesel::sql_query(
        "SELECT t.token_hash, e.slug AS event, s.slug AS session, s.starts_at AS opened \
         FROM device_tokens t JOIN events e ON e.id = t.event_id \
         JOIN agenda_sessions s ON s.event_id = e.id \
         WHERE t.role = 'door' AND t.revoked_at IS NULL ORDER BY s.starts_at LIMIT 1",
    )
    .get_result(&mut *conn)
    .context("the database has no door token and session: seed it with rollcall-bench")?;

    let first = timed_pass(
        &mut conn,
        &door,
        &codes,
        args.batch,
        "a",
        CheckinStatus::Accepted,
    )?;
    if first.answered == 0 {
        bail!("no scan was accepted");
    }
    // The same people again, as a door rush's duplicates are: every answer
    // "already in", which writes a log row instead of a record.
    let again = timed_pass(
        &mut conn,
        &door,
        &codes,
        args.batch,
        "d",
        CheckinStatus::Duplicate,
    )?;
    println!(
        "batches of {}: {} first check-ins, writer CPU {:.1} µs each; \
         {} duplicates, {:.1} µs each",
        args.batch,
        first.answered,
        first.micros_each(),
        again.answered,
        again.micros_each(),
    );
    Ok(())
}

struct Pass {
    /// Scans answered with the status the pass expects.
    answered: usize,
    cpu_ns: u64,
}

impl Pass {
    fn micros_each(&self) -> f64 {
        self.cpu_ns as f64 / 1e3 / self.answered.max(1) as f64
    }
}

/// Records every code once, in batches, timing only `record_scans`.
fn timed_pass(
    conn: &mut db::DbConnection,
    door: &Door,
    codes: &[Code],
    batch_size: usize,
    scan_prefix: &str,
    expected: CheckinStatus,
) -> anyhow::Result<Pass> {
    let mut pass = Pass {
        answered: 0,
        cpu_ns: 0,
    };
    for (n, batch) in codes.chunks(batch_size).enumerate() {
        let scans: Vec<ScanRequest> = batch
            .iter()
            .enumerate()
            .map(|(i, code)| ScanRequest {
                who: Who::Device {
                    token_hash: door.token_hash.clone(),
                },
                event_slug: door.event.clone(),
                session_slug: Some(door.session.clone()),
                subject: Subject::Code(CheckinCode::parse(&code.checkin_code).ok()),
                door: Some("Main door".into()),
                // Time-ordered, as the scan page's UUID v7 ids are.
                scan_id: Some(format!("{scan_prefix}{n:011x}-{i:08x}")),
                now: door.opened + 60_000,
            })
            .collect();
        let before = thread_cpu_ns()?;
        let outcomes = record_scans(conn, &scans)?;
        pass.cpu_ns += thread_cpu_ns()? - before;
        pass.answered += outcomes
            .iter()
            .filter(|o| matches!(o, Ok((_, a)) if a.status == expected))
            .count();
    }
    Ok(pass)
}
