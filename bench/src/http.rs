//! HTTP/1.1 load over keep-alive connections (hyper's client connection,
//! one per task): closed loop for throughput, paced for bursts.

use crate::machine::{CpuClock, CpuShares};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpStream;

pub type Histogram = hdrhistogram::Histogram<u64>;

pub fn histogram() -> Histogram {
    // Microseconds, up to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// One request to make: the `n`-th of the run.
#[derive(Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub bearer: Option<String>,
    pub body: Option<Bytes>,
}

/// How an answer is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The answer a user wanted (e.g. "accepted").
    Good,
    /// A correct answer of another kind (e.g. "duplicate").
    Other,
    Error,
}

pub type MakeCall = Arc<dyn Fn(u64) -> Call + Send + Sync>;
pub type Judge = Arc<dyn Fn(u16, &[u8]) -> Verdict + Send + Sync>;

#[derive(Debug, Default, serde::Serialize)]
pub struct LoadResult {
    pub requests: u64,
    pub good: u64,
    pub other: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first wrong answer, to say what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// What the machine's cores did meanwhile (steal: the host's share).
    pub machine: Option<CpuShares>,
}

/// A short description of a wrong answer.
fn describe(answer: &Option<(u16, Bytes)>) -> String {
    match answer {
        Some((status, body)) => format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
        None => "connection failed".into(),
    }
}

impl LoadResult {
    fn from_parts(hist: &Histogram, counts: [u64; 3], elapsed: Duration) -> Self {
        let requests = counts.iter().sum::<u64>();
        let seconds = elapsed.as_secs_f64();
        Self {
            requests,
            good: counts[0],
            other: counts[1],
            errors: counts[2],
            seconds,
            per_second: requests as f64 / seconds,
            p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: hist.max() as f64 / 1000.0,
            first_error: None,
            machine: None,
        }
    }
}

async fn connect(addr: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one call; the status and body, or `None` on a transport error.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: &str,
    call: Call,
) -> Option<(u16, Bytes)> {
    let mut request = Request::builder()
        .method(call.method)
        .uri(call.path)
        .header("host", addr);
    if let Some(token) = call.bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if call.body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Full::new(call.body.unwrap_or_default()))
        .ok()?;
    sender.ready().await.ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

/// `connections` tasks each send one call after another for `duration`:
/// the most the server does at that concurrency.
pub async fn closed_loop(
    addr: &str,
    connections: usize,
    duration: Duration,
    limit: Option<u64>,
    make: MakeCall,
    judge: Judge,
) -> anyhow::Result<LoadResult> {
    let counter = Arc::new(AtomicU64::new(0));
    let clock = CpuClock::now();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (addr, make, judge, counter) = (
            addr.to_string(),
            make.clone(),
            judge.clone(),
            counter.clone(),
        );
        let mut sender = connect(&addr).await?;
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut counts = [0u64; 3];
            let mut first_error = None;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|limit| n >= limit) {
                    break;
                }
                let began = Instant::now();
                let answer = send(&mut sender, &addr, make(n)).await;
                let verdict = match &answer {
                    Some((status, body)) => judge(*status, body),
                    None => {
                        // The connection is gone: count it and open another.
                        match connect(&addr).await {
                            Ok(fresh) => sender = fresh,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                        Verdict::Error
                    }
                };
                let _ = hist.record(began.elapsed().as_micros().max(1) as u64);
                counts[verdict as usize] += 1;
                if verdict == Verdict::Error && first_error.is_none() {
                    first_error = Some(describe(&answer));
                }
            }
            (hist, counts, first_error)
        }));
    }
    collect(tasks, start, clock).await
}

/// Paced calls slower than this are printed (`--trace-slow`).
static TRACE_SLOWER_THAN: OnceLock<Duration> = OnceLock::new();

pub fn trace_slower_than(threshold: Duration) {
    let _ = TRACE_SLOWER_THAN.set(threshold);
}

/// One line on stderr for a slow paced call: when it was due (seconds into
/// the run, and the wall clock, to line up with `strace -ttt` or `perf
/// record -k CLOCK_REALTIME` of the server), how long it took, and on which
/// connection.
fn trace_if_slow(due_after: Duration, took: Duration, connection: u64) {
    let Some(threshold) = TRACE_SLOWER_THAN.get() else {
        return;
    };
    if took < *threshold {
        return;
    }
    let due_wall = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(took);
    eprintln!(
        "slow call: due at +{:.3} s (wall {:.3}), took {} ms, connection {connection}",
        due_after.as_secs_f64(),
        due_wall.as_secs_f64(),
        took.as_millis()
    );
}

/// `total` calls at a steady `per_second`, spread over `connections`
/// connections; latency is measured from each call's scheduled time, so a
/// slow server can't hide its queue. `on_answer(n, verdict)` hears each
/// answer as it comes.
pub async fn paced(
    addr: &str,
    connections: usize,
    per_second: f64,
    total: u64,
    make: MakeCall,
    judge: Judge,
    on_answer: Arc<dyn Fn(u64, Verdict) + Send + Sync>,
) -> anyhow::Result<LoadResult> {
    let clock = CpuClock::now();
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / per_second);
    let mut tasks = Vec::new();
    for worker in 0..connections as u64 {
        let (addr, make, judge, on_answer) = (
            addr.to_string(),
            make.clone(),
            judge.clone(),
            on_answer.clone(),
        );
        let mut sender = connect(&addr).await?;
        let workers = connections as u64;
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut counts = [0u64; 3];
            let mut first_error = None;
            let mut n = worker;
            while n < total {
                let due = start + interval.mul_f64(n as f64);
                tokio::time::sleep_until(due.into()).await;
                let answer = send(&mut sender, &addr, make(n)).await;
                let verdict = match &answer {
                    Some((status, body)) => judge(*status, body),
                    None => {
                        if let Ok(fresh) = connect(&addr).await {
                            sender = fresh;
                        }
                        Verdict::Error
                    }
                };
                on_answer(n, verdict);
                let took = due.elapsed();
                trace_if_slow(due - start, took, worker);
                let _ = hist.record(took.as_micros().max(1) as u64);
                counts[verdict as usize] += 1;
                if verdict == Verdict::Error && first_error.is_none() {
                    first_error = Some(describe(&answer));
                }
                n += workers;
            }
            (hist, counts, first_error)
        }));
    }
    collect(tasks, start, clock).await
}

type TaskResult = (Histogram, [u64; 3], Option<String>);

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<TaskResult>>,
    start: Instant,
    clock: Option<CpuClock>,
) -> anyhow::Result<LoadResult> {
    let mut hist = histogram();
    let mut counts = [0u64; 3];
    let mut first_error = None;
    for task in tasks {
        let (h, c, e) = task.await?;
        hist.add(h)?;
        for (total, n) in counts.iter_mut().zip(c) {
            *total += n;
        }
        first_error = first_error.or(e);
    }
    let mut result = LoadResult::from_parts(&hist, counts, start.elapsed());
    result.first_error = first_error;
    result.machine = clock.and_then(|c| c.shares_since());
    Ok(result)
}

/// Does `body` contain `needle`? (Answers are small; no JSON parse needed.)
pub fn contains(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}
