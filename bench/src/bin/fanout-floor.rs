//! The floor under live fan-out on this machine: how long one message takes
//! to reach every one of N WebSockets over loopback when nothing else runs —
//! no actix, no hub, no database, no scans. A bare tokio-tungstenite server
//! (a child process with two worker threads, as `rollcall serve` has on two
//! cores) writes the same text to each socket; this process reads them with
//! the harness's own client settings and times each delivery from the
//! moment the round was asked for.
//!
//! ```sh
//! target/release/fanout-floor --sockets 10000 --bytes 2500 --rounds 30
//! ```
//!
//! A dashboard in Rollcall waits for its turn in a round like these, so the
//! round's length here is the least its latency can be at the p99.
//!
//! `--stack actix` writes with the stack Rollcall is built on instead: an
//! actix-web server (two workers) whose sockets are actix-web-actors
//! actors, handed the message by one actor on the main thread as the hub
//! hands its updates, still without a hub's computations, a database or
//! scans. `--share 100` paces it as the hub does: that many sockets at a
//! time, the next share once they have written theirs; `--share 0` hands
//! every socket its message at once. The gap between the two stacks' rounds
//! is the stack's; the gap between this and Rollcall's round is Rollcall's.
//!
//! ```sh
//! target/release/fanout-floor --stack actix --share 100
//! ```

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

#[path = "../actix_floor.rs"]
mod actix_side;
#[path = "../dashboard_socket.rs"]
mod dashboard_socket;

#[derive(Parser)]
struct Args {
    /// WebSockets to hold open (two file descriptors each, one per process).
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Bytes of text per message (Rollcall's updates averaged ~2,500 at
    /// 10,000 dashboards under 500 scans/s).
    #[arg(long, default_value_t = 2_500)]
    bytes: usize,
    /// Rounds to time, back to back (the first two are left out: warm-up).
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// What writes: a bare tokio-tungstenite server, or actix-web with
    /// actix-web-actors sockets (Rollcall's stack).
    #[arg(long, value_enum, default_value_t = Stack::Tungstenite)]
    stack: Stack,
    /// actix only: sockets handed the message at a time, the next share
    /// once they have written it (Rollcall's hub hands out 100); 0 for all
    /// at once.
    #[arg(long, default_value_t = 0)]
    share: usize,
    /// Internal: run as the writing side, on this many worker threads.
    #[arg(long, hide = true)]
    serve_with_threads: Option<usize>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Stack {
    Tungstenite,
    Actix,
}

impl Stack {
    fn name(self) -> &'static str {
        match self {
            Stack::Tungstenite => "tungstenite",
            Stack::Actix => "actix",
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.serve_with_threads {
        Some(threads) => match args.stack {
            Stack::Tungstenite => serve(threads, args.bytes),
            Stack::Actix => actix_side::serve(threads, args.bytes, args.share),
        },
        None => drive(&args),
    }
}

/// The writing side: accepts WebSockets, then on each line of stdin writes
/// one message to every socket, split between its worker threads, and
/// answers the line once all are written.
fn serve(threads: usize, bytes: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?.port());
        std::io::stdout().flush()?;
        let sinks = Arc::new(Mutex::new(Vec::new()));
        let accepting = sinks.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sinks = accepting.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                        let (sink, mut stream) = socket.split();
                        sinks.lock().unwrap_or_else(|e| e.into_inner()).push(sink);
                        // Read (and drop) whatever the client sends, so a
                        // close is noticed.
                        while let Some(Ok(_)) = stream.next().await {}
                    }
                });
            }
        });
        let text: String = "x".repeat(bytes);
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Some(_line) = lines.next_line().await? {
            let mut all = std::mem::take(&mut *sinks.lock().unwrap_or_else(|e| e.into_inner()));
            let per_thread = all.len().div_ceil(threads.max(1)).max(1);
            let mut writers = Vec::new();
            while !all.is_empty() {
                let mut part = all.split_off(all.len().saturating_sub(per_thread));
                let text = text.clone();
                writers.push(tokio::spawn(async move {
                    for sink in &mut part {
                        let _ = sink.send(Message::text(text.as_str())).await;
                    }
                    part
                }));
            }
            for writer in writers {
                all.extend(writer.await?);
            }
            // Put back, beside any socket that connected meanwhile.
            sinks.lock().unwrap_or_else(|e| e.into_inner()).extend(all);
            let mut out = tokio::io::stdout();
            out.write_all(b"written\n").await?;
            out.flush().await?;
        }
        anyhow::Ok(())
    })
}

/// The reading side: starts the writer, connects, asks for rounds and
/// times each socket's delivery from the ask.
fn drive(args: &Args) -> anyhow::Result<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--bytes", &args.bytes.to_string()])
        .args(["--share", &args.share.to_string()])
        .args(["--stack", args.stack.name()])
        .args(["--serve-with-threads", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the writing side")?;
    let mut child_out = std::io::BufReader::new(child.stdout.take().context("child stdout")?);
    let mut child_in = child.stdin.take().context("child stdin")?;
    let mut port = String::new();
    child_out.read_line(&mut port)?;
    let port: u16 = port.trim().parse().context("the writer's port")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let received = Arc::new(AtomicUsize::new(0));
    let round_start = Arc::new(Mutex::new(Instant::now()));
    let latencies = Arc::new(Mutex::new(hdrhistogram::Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let recording = Arc::new(std::sync::atomic::AtomicBool::new(false));
    runtime.block_on(async {
        let connecting = Arc::new(tokio::sync::Semaphore::new(256));
        let mut connected = Vec::new();
        for _ in 0..args.sockets {
            let (received, round_start, latencies, recording, connecting) = (
                received.clone(),
                round_start.clone(),
                latencies.clone(),
                recording.clone(),
                connecting.clone(),
            );
            connected.push(tokio::spawn(async move {
                let permit = connecting.acquire().await;
                let stream = TcpStream::connect(("127.0.0.1", port)).await?;
                let (mut socket, _) = tokio_tungstenite::client_async_with_config(
                    format!("ws://127.0.0.1:{port}/"),
                    stream,
                    Some(dashboard_socket::config()),
                )
                .await?;
                drop(permit);
                tokio::spawn(async move {
                    while let Some(Ok(message)) = socket.next().await {
                        if let Message::Text(_) = message {
                            let at = round_start
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .elapsed();
                            if recording.load(Ordering::Relaxed) {
                                let _ = latencies
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .record(at.as_micros().max(1) as u64);
                            }
                            received.fetch_add(1, Ordering::Release);
                        }
                    }
                });
                anyhow::Ok(())
            }));
        }
        for task in connected {
            task.await??;
        }
        anyhow::Ok(())
    })?;
    // Let the writer register the last sockets.
    std::thread::sleep(Duration::from_millis(500));

    let mut rounds = Vec::new();
    let mut cpu_before = None;
    for round in 0..args.rounds + 2 {
        recording.store(round >= 2, Ordering::Relaxed);
        if round == 2 {
            cpu_before = Some((cpu_seconds(child.id()), cpu_seconds(std::process::id())));
        }
        received.store(0, Ordering::Release);
        *round_start.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let asked = Instant::now();
        writeln!(child_in, "round")?;
        child_in.flush()?;
        let mut line = String::new();
        child_out.read_line(&mut line)?;
        let deadline = asked + Duration::from_secs(30);
        while received.load(Ordering::Acquire) < args.sockets {
            if Instant::now() > deadline {
                bail!(
                    "round {round}: only {} of {} sockets got the message",
                    received.load(Ordering::Acquire),
                    args.sockets
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if round >= 2 {
            rounds.push(asked.elapsed());
        }
    }
    let cpu_after = (cpu_seconds(child.id()), cpu_seconds(std::process::id()));
    drop(child_in);
    let _ = child.wait();
    rounds.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let hist = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let writer = match (args.stack, args.share) {
        (Stack::Tungstenite, _) => "tokio-tungstenite".to_string(),
        (Stack::Actix, 0) => "actix-web-actors, all sockets at once".to_string(),
        (Stack::Actix, share) => format!("actix-web-actors, shares of {share}"),
    };
    println!(
        "{} sockets, {} bytes a message, {} rounds back to back, written by {writer} (2 cores shared by both sides)",
        args.sockets, args.bytes, args.rounds
    );
    println!(
        "round (ask to last delivery): median {:.1} ms, p90 {:.1} ms, max {:.1} ms; {:.1} µs a socket",
        ms(rounds[rounds.len() / 2]),
        ms(rounds[rounds.len() * 9 / 10]),
        ms(rounds[rounds.len() - 1]),
        ms(rounds[rounds.len() / 2]) * 1000.0 / args.sockets as f64,
    );
    println!(
        "delivery from the ask: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        hist.value_at_quantile(0.50) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0,
    );
    if let Some((writer, reader)) = cpu_before {
        let messages = (args.sockets * args.rounds) as f64;
        let per_message = |before: Option<f64>, after: Option<f64>| match (before, after) {
            // The clock counts in hundredths of a second.
            (Some(b), Some(a)) if a - b >= 0.5 => format!("{:.1} µs", (a - b) * 1e6 / messages),
            (Some(_), Some(_)) => "too little to tell (more sockets or rounds)".to_string(),
            _ => "unknown".to_string(),
        };
        println!(
            "CPU a message (user and kernel, timed rounds): writer {}, reader {}",
            per_message(writer, cpu_after.0),
            per_message(reader, cpu_after.1),
        );
    }
    Ok(())
}

/// A process's CPU time so far, user and kernel, in seconds (Linux
/// `/proc/PID/stat`, in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15; the first after ')' is field 3.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}
