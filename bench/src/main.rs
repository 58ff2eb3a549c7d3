//! rollcall-bench: seeds a fresh database, starts a release `rollcall serve`
//! on loopback, drives it over real HTTP and WebSocket connections, and
//! prints a table (and writes JSON) of what it measured. See BENCHMARKS.md.

mod dashboard_socket;
mod fanout;
mod http;
mod hub_metrics;
mod machine;
mod seed;
mod server;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use http::{Call, LoadResult, Verdict};
use hyper::Method;
use seed::{Backend, Plan, Scratch, Seeded, EVENT};
use server::Server;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Load benchmark for Rollcall (run against a release build)")]
struct Args {
    /// sqlite, postgres, or both.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// PostgreSQL maintenance database URL; each scenario creates and drops
    /// its own database there.
    #[arg(long, env = "ROLLCALL_BENCH_POSTGRES")]
    postgres: Option<String>,
    /// Scenarios to run, comma-separated: healthz, door, fanout, burst, report.
    #[arg(long, default_value = "healthz,door,fanout,burst,report")]
    scenarios: String,
    /// Tiny sizes, seconds in all: for CI, so the harness can't rot.
    #[arg(long)]
    tiny: bool,
    /// Seconds per throughput run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections for the throughput runs.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Dashboard counts for the fan-out runs.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    dashboards: Vec<usize>,
    /// The rollcall binary to start (default: target/release/rollcall).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Exit with an error if any request failed or any dashboard missed an
    /// update (CI runs this way).
    #[arg(long)]
    fail_on_errors: bool,
    /// Keep the seeded databases and print where they are, to look at
    /// query plans and timings by hand afterwards.
    #[arg(long)]
    keep_databases: bool,
    /// Print each paced call (keynote joins, fan-out scans) slower than
    /// this many milliseconds, with when it was due: whether slow calls
    /// come together in stalls, and how often.
    #[arg(long, value_name = "MS")]
    trace_slow: Option<u64>,
}

/// The sizes of one run.
struct Sizes {
    seconds: u64,
    connections: usize,
    door_participants: usize,
    dashboards: Vec<usize>,
    fanout_rate: f64,
    fanout_seconds: u64,
    joins: usize,
    join_seconds: f64,
    report_participants: usize,
    report_sessions: usize,
    report_requests: usize,
}

impl Sizes {
    fn from(args: &Args) -> Self {
        if args.tiny {
            return Self {
                seconds: 1,
                connections: 8,
                door_participants: 20_000,
                dashboards: vec![20],
                fanout_rate: 50.0,
                fanout_seconds: 2,
                joins: 200,
                join_seconds: 1.0,
                report_participants: 2_000,
                report_sessions: 5,
                report_requests: 3,
            };
        }
        Self {
            seconds: args.seconds,
            connections: args.connections,
            door_participants: 400_000,
            dashboards: args.dashboards.clone(),
            fanout_rate: 500.0,
            fanout_seconds: 20,
            joins: 20_000,
            join_seconds: 10.0,
            report_participants: 100_000,
            report_sessions: 5,
            report_requests: 20,
        }
    }
}

#[derive(Default, serde::Serialize)]
struct Results {
    backend: &'static str,
    date: String,
    machine: String,
    startup_ms: Option<f64>,
    idle_rss_mib: Option<f64>,
    healthz: Option<LoadResult>,
    door_first_checkins: Option<LoadResult>,
    door_duplicates: Option<LoadResult>,
    fanout: Vec<fanout::FanoutResult>,
    keynote_burst: Option<LoadResult>,
    report_page: Option<Timing>,
    stats_json: Option<Timing>,
    /// The two row-by-row exports of the same data (fewer requests: each
    /// is every person or every record).
    participants_csv: Option<Timing>,
    attendance_csv: Option<Timing>,
    report_rows: Option<(usize, usize)>,
}

#[derive(serde::Serialize)]
struct Timing {
    requests: usize,
    median_ms: f64,
    max_ms: f64,
    bytes: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = args.server.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/rollcall")
    });
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: build it first with `cargo build --release`",
        binary.display()
    );
    let backends: Vec<Backend> = match args.backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        "both" => vec![Backend::Sqlite, Backend::Postgres],
        other => anyhow::bail!("--backend must be sqlite, postgres or both, not {other:?}"),
    };
    let scenarios: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let sizes = Sizes::from(&args);
    if let Some(ms) = args.trace_slow {
        http::trace_slower_than(Duration::from_millis(ms));
    }
    std::fs::create_dir_all(&args.out)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for backend in backends {
        let results = runtime.block_on(run_backend(backend, &args, &sizes, &binary, &scenarios))?;
        print_table(&results);
        let path = args.out.join(format!("results-{}.json", backend.name()));
        std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
        println!("(written to {})\n", path.display());
        if args.fail_on_errors {
            let problems = results.problems();
            anyhow::ensure!(
                problems.is_empty(),
                "{}: {}",
                backend.name(),
                problems.join("; ")
            );
        }
    }
    Ok(())
}

impl Results {
    /// What went wrong in this run, in words: failed requests, dashboards
    /// left behind, scans that were never accepted.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let loads = [
            ("/healthz", &self.healthz),
            ("door rush", &self.door_first_checkins),
            ("duplicates", &self.door_duplicates),
            ("keynote burst", &self.keynote_burst),
        ];
        for (name, load) in loads {
            if let Some(load) = load {
                if load.errors > 0 || load.good == 0 {
                    problems.push(format!(
                        "{name}: {} errors, {} good ({})",
                        load.errors,
                        load.good,
                        load.first_error.as_deref().unwrap_or("no error text")
                    ));
                }
            }
        }
        for f in &self.fanout {
            if f.scan_errors > 0 || f.up_to_date != f.dashboards {
                problems.push(format!(
                    "fan-out {}: {} scan errors, {}/{} dashboards up to date",
                    f.dashboards, f.scan_errors, f.up_to_date, f.dashboards
                ));
            }
        }
        problems
    }
}

fn seeded_server(
    backend: Backend,
    args: &Args,
    binary: &PathBuf,
    plan: &Plan,
) -> anyhow::Result<(Scratch, Seeded, Server)> {
    let mut scratch = Scratch::create(backend, args.postgres.as_deref())?;
    scratch.keep = args.keep_databases;
    let began = Instant::now();
    let seeded = seed::seed(&scratch.url, plan)?;
    eprintln!(
        "  seeded {} participants in {:.1} s",
        plan.participants,
        began.elapsed().as_secs_f64()
    );
    let server = Server::start(binary, &scratch.url_string(), 8)?;
    Ok((scratch, seeded, server))
}

async fn run_backend(
    backend: Backend,
    args: &Args,
    sizes: &Sizes,
    binary: &PathBuf,
    scenarios: &[&str],
) -> anyhow::Result<Results> {
    let mut results = Results {
        backend: backend.name(),
        date: chrono_like_now(),
        machine: machine::summary(),
        ..Default::default()
    };
    let wants = |name: &str| scenarios.contains(&name);
    eprintln!("== {} ==", backend.name());

    if wants("healthz") {
        eprintln!("start-up and /healthz");
        let plan = Plan {
            participants: 100,
            sessions: 1,
            attended_sessions: 0,
            online_share: 0.0,
            earlier_event_participants: 0,
        };
        let (_scratch, _seeded, server) = seeded_server(backend, args, binary, &plan)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        results.startup_ms = Some(server.startup.as_secs_f64() * 1000.0);
        results.idle_rss_mib = Some(server.rss_mib().0);
        let make: http::MakeCall = Arc::new(|_| Call {
            method: Method::GET,
            path: "/healthz".into(),
            bearer: None,
            body: None,
        });
        let judge: http::Judge = Arc::new(|status, _| {
            if status == 200 {
                Verdict::Good
            } else {
                Verdict::Error
            }
        });
        results.healthz = Some(
            http::closed_loop(
                &server.addr,
                sizes.connections,
                Duration::from_secs(sizes.seconds),
                None,
                make,
                judge,
            )
            .await?,
        );
    }

    if wants("door") {
        eprintln!("door rush");
        let plan = Plan {
            participants: sizes.door_participants,
            sessions: 1,
            attended_sessions: 0,
            online_share: 0.0,
            earlier_event_participants: 0,
        };
        let (_scratch, seeded, server) = seeded_server(backend, args, binary, &plan)?;
        // People reach the door in no particular order: not in the order
        // they registered (rows next to each other on disk).
        let mut codes: Vec<String> = seeded.people.iter().map(|p| p.code.clone()).collect();
        {
            use rand::{seq::SliceRandom, SeedableRng};
            codes.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2026));
        }
        let codes = Arc::new(codes);
        let scan = |codes: Arc<Vec<String>>, door: String| -> http::MakeCall {
            Arc::new(move |n| Call {
                method: Method::POST,
                path: format!("/api/v1/events/{EVENT}/checkins"),
                bearer: Some(door.clone()),
                body: Some(Bytes::from(format!(
                    r#"{{"code":"{}","session":"s0","door":"North","scan_id":"{}"}}"#,
                    codes[n as usize % codes.len()],
                    // Time-ordered, as the scan page makes them.
                    uuid::Uuid::now_v7()
                ))),
            })
        };
        let expect = |wanted: &'static [u8]| -> http::Judge {
            Arc::new(move |status, body| match status {
                200 if http::contains(body, wanted) => Verdict::Good,
                200 => Verdict::Other,
                _ => Verdict::Error,
            })
        };
        let first = http::closed_loop(
            &server.addr,
            sizes.connections,
            Duration::from_secs(sizes.seconds),
            Some(codes.len() as u64),
            scan(codes.clone(), seeded.door_token.clone()),
            expect(br#""status":"accepted""#),
        )
        .await?;
        // Rescan the codes just accepted: every answer is "already in".
        let accepted = first.good.max(1) as usize;
        let scanned: Arc<Vec<String>> = Arc::new(codes[..accepted.min(codes.len())].to_vec());
        let duplicates = http::closed_loop(
            &server.addr,
            sizes.connections,
            Duration::from_secs(sizes.seconds),
            None,
            scan(scanned, seeded.door_token.clone()),
            expect(br#""status":"duplicate""#),
        )
        .await?;
        results.door_first_checkins = Some(first);
        results.door_duplicates = Some(duplicates);
    }

    if wants("fanout") {
        for &dashboards in &sizes.dashboards {
            eprintln!("live fan-out: {dashboards} dashboards");
            let plan = Plan {
                participants: (sizes.fanout_rate * sizes.fanout_seconds as f64) as usize + 10,
                sessions: 1,
                attended_sessions: 0,
                online_share: 0.0,
                earlier_event_participants: 0,
            };
            let (_scratch, seeded, server) = seeded_server(backend, args, binary, &plan)?;
            let result = fanout::run(
                &server.addr,
                &seeded,
                dashboards,
                sizes.fanout_rate,
                sizes.fanout_seconds,
                || server.rss_mib().0,
                || server.metrics(),
            )
            .await?;
            results.fanout.push(result);
        }
    }

    if wants("burst") {
        eprintln!("keynote burst");
        let plan = Plan {
            participants: sizes.joins,
            sessions: 1,
            attended_sessions: 0,
            online_share: 1.0,
            earlier_event_participants: 0,
        };
        let (_scratch, seeded, server) = seeded_server(backend, args, binary, &plan)?;
        let tokens: Arc<Vec<String>> =
            Arc::new(seeded.people.iter().map(|p| p.page_token.clone()).collect());
        let make: http::MakeCall = Arc::new(move |n| Call {
            method: Method::GET,
            path: format!("/r/{}/join/s0", tokens[n as usize]),
            bearer: None,
            body: None,
        });
        let judge: http::Judge = Arc::new(|status, _| {
            if status == 303 {
                Verdict::Good
            } else {
                Verdict::Error
            }
        });
        results.keynote_burst = Some(
            http::paced(
                &server.addr,
                200.min(sizes.joins),
                sizes.joins as f64 / sizes.join_seconds,
                sizes.joins as u64,
                make,
                judge,
                Arc::new(|_, _| {}),
            )
            .await?,
        );
    }

    if wants("report") {
        eprintln!("report");
        let plan = Plan {
            participants: sizes.report_participants,
            sessions: sizes.report_sessions,
            attended_sessions: sizes.report_sessions,
            online_share: 0.3,
            earlier_event_participants: sizes.report_participants / 4,
        };
        let (scratch, seeded, server) = seeded_server(backend, args, binary, &plan)?;
        results.report_rows = Some((
            sizes.report_participants,
            sizes.report_participants * sizes.report_sessions,
        ));
        let plans = seed::explain_stats(&scratch.url)?;
        let plans_path = args.out.join(format!("plans-{}.txt", backend.name()));
        std::fs::write(&plans_path, &plans)?;
        eprintln!("  query plans written to {}", plans_path.display());
        let exports = sizes.report_requests.min(5);
        for (path, slot, requests) in [
            (
                format!("/admin/events/{EVENT}/report"),
                &mut results.report_page,
                sizes.report_requests,
            ),
            (
                format!("/api/v1/events/{EVENT}/stats"),
                &mut results.stats_json,
                sizes.report_requests,
            ),
            (
                format!("/api/v1/events/{EVENT}/participants.csv"),
                &mut results.participants_csv,
                exports,
            ),
            (
                format!("/api/v1/events/{EVENT}/attendance.csv"),
                &mut results.attendance_csv,
                exports,
            ),
        ] {
            *slot = Some(time_gets(&server.addr, &path, &seeded.organiser_token, requests).await?);
        }
    }
    Ok(results)
}

/// Sequential GETs of one page: the median and slowest.
async fn time_gets(addr: &str, path: &str, token: &str, requests: usize) -> anyhow::Result<Timing> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..requests.max(1) {
        let (target, token) = (path.to_string(), token.to_string());
        let make: http::MakeCall = Arc::new(move |_| Call {
            method: Method::GET,
            path: target.clone(),
            bearer: Some(token.clone()),
            body: None,
        });
        let size = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = size.clone();
        let judge: http::Judge = Arc::new(move |status, body| {
            seen.store(body.len(), std::sync::atomic::Ordering::Relaxed);
            if status == 200 {
                Verdict::Good
            } else {
                Verdict::Error
            }
        });
        let one = http::closed_loop(addr, 1, Duration::from_secs(60), Some(1), make, judge).await?;
        anyhow::ensure!(one.errors == 0, "GET {path} failed");
        times.push(one.max_ms);
        bytes = size.load(std::sync::atomic::Ordering::Relaxed);
    }
    times.sort_by(f64::total_cmp);
    Ok(Timing {
        requests: times.len(),
        median_ms: times[times.len() / 2],
        max_ms: *times.last().context("no timings")?,
        bytes,
    })
}

fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rollcall::timefmt::rfc3339(secs as i64 * 1000)
}

fn print_table(r: &Results) {
    println!(
        "\nRollcall benchmark · {} · {} · {}",
        r.backend, r.machine, r.date
    );
    println!(
        "{:<44} {:>12} {:>9} {:>9} {:>9} {:>8}",
        "scenario", "per second", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let row = |name: &str, l: &LoadResult| {
        println!(
            "{:<44} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>8}",
            name, l.per_second, l.p50_ms, l.p99_ms, l.max_ms, l.errors
        );
        if let Some(error) = &l.first_error {
            println!("  first error: {error}");
        }
        if let Some(machine) = &l.machine {
            println!("  {machine}");
        }
    };
    if let Some(l) = &r.healthz {
        row("/healthz", l);
    }
    if let Some(l) = &r.door_first_checkins {
        row(
            &format!("door rush: first check-ins ({} accepted)", l.good),
            l,
        );
        if let Some(h) = &r.healthz {
            println!(
                "{:<44} {:>11.1}%",
                "  as a share of /healthz",
                100.0 * l.per_second / h.per_second
            );
        }
    }
    if let Some(l) = &r.door_duplicates {
        row("door rush: duplicates", l);
    }
    for f in &r.fanout {
        println!(
            "{:<44} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>8}",
            format!("fan-out: {} dashboards, scan->update", f.dashboards),
            f.scans_per_second,
            f.p50_ms,
            f.p99_ms,
            f.max_ms,
            f.scan_errors + (f.dashboards - f.connected) as u64
        );
        println!(
            "{:<44} {:>12}",
            format!(
                "  up to date {}/{}, server RSS MiB",
                f.up_to_date, f.dashboards
            ),
            format!("{:.0}", f.rss_mib_with_sockets)
        );
        println!(
            "  updates per dashboard {:.0}, mean {:.0} bytes",
            f.updates as f64 / f.connected.max(1) as f64,
            f.mean_update_bytes
        );
        println!(
            "  the door's scans meanwhile: p50 {:.2} ms, p99 {:.2} ms",
            f.scan_p50_ms, f.scan_p99_ms
        );
        if let Some(hub) = &f.hub {
            println!("  {hub}");
        }
        if let Some(machine) = &f.machine {
            println!("  {machine}");
        }
    }
    if let Some(l) = &r.keynote_burst {
        row(
            &format!("keynote burst: {} joins in {:.1} s", l.requests, l.seconds),
            l,
        );
    }
    for (name, t) in [
        ("report page", &r.report_page),
        ("stats JSON", &r.stats_json),
        ("participants.csv", &r.participants_csv),
        ("attendance.csv", &r.attendance_csv),
    ] {
        if let Some(t) = t {
            println!(
                "{:<44} {:>12} {:>9.1} {:>9} {:>9.1}",
                format!("{name} ({} requests, {} KiB)", t.requests, t.bytes / 1024),
                "",
                t.median_ms,
                "",
                t.max_ms
            );
        }
    }
    if let (Some(s), Some(m)) = (r.startup_ms, r.idle_rss_mib) {
        println!("start-up to /healthz: {s:.0} ms · idle RSS: {m:.1} MiB");
    }
}
