//! Live fan-out: many dashboard WebSockets, scans at a steady rate, and the
//! time from each scan's answer to each dashboard holding an update that
//! counts it.

use crate::http::{self, Call, Verdict};
use crate::seed::{Seeded, EVENT};
use futures_util::StreamExt;
use hyper::Method;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Default, serde::Serialize)]
pub struct FanoutResult {
    pub dashboards: usize,
    pub connected: usize,
    pub scans: u64,
    pub scans_per_second: f64,
    pub scan_errors: u64,
    /// How the door's scans fare while the dashboards are fed (from when
    /// each scan was due to its answer).
    pub scan_p50_ms: f64,
    pub scan_p99_ms: f64,
    /// Dashboards that ended holding the final total.
    pub up_to_date: usize,
    pub deliveries: u64,
    /// Messages the dashboards received after their snapshot, and their
    /// mean size: what the protocol costs per dashboard.
    pub updates: u64,
    pub mean_update_bytes: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub rss_mib_with_sockets: f64,
    /// What the machine's cores did while the scans ran.
    pub machine: Option<crate::machine::CpuShares>,
    /// The live hub's passes and computations from the first scan to the
    /// last update (from the server's `/metrics`).
    pub hub: Option<crate::hub_metrics::HubTimes>,
}

/// The `attended.total` in a snapshot or update, if it carries one.
fn attended_total(message: &str) -> Option<i64> {
    let at = message.find("\"attended\":{")?;
    let rest = &message[at..];
    let end = rest.find('}')?;
    let object = &rest[..end];
    let total = object.find("\"total\":")? + "\"total\":".len();
    let digits: String = object[total..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Answer times of accepted scans, in µs since `start`, by the order they
/// were answered (1-based); 0 until answered.
struct Answers {
    start: Instant,
    at: Vec<AtomicU64>,
    accepted: AtomicU64,
}

/// Scans `from..=to` (by the order they were answered) first counted in
/// an update that arrived `at` µs after the start.
struct Learned {
    at: u64,
    from: u32,
    to: u32,
}

/// What one dashboard saw. Its latencies are worked out after the run: a
/// shared histogram locked per update to record a hundred samples (at
/// 10,000 dashboards, 2 % of the machine's CPU) ran while the server was
/// measured, and the client's CPU counts against it on two shared cores.
#[derive(Default)]
struct Dashboard {
    /// Accepted scans counted in what it holds; `None` if it never got a
    /// snapshot.
    seen: Option<i64>,
    learned: Vec<Learned>,
    updates: u64,
    bytes: u64,
}

impl Dashboard {
    /// Each scan it learned of, as the wait from the scan's answer (µs
    /// since the start, by answer order; 0: never answered) to the update.
    fn record_latencies(&self, answered_at: &[AtomicU64], hist: &mut hdrhistogram::Histogram<u64>) {
        for learned in &self.learned {
            for k in learned.from..=learned.to {
                let answered = answered_at
                    .get(k as usize)
                    .map_or(0, |a| a.load(Ordering::Relaxed));
                // An update can overtake the scan's own answer to the
                // client: it counts as no wait, not as a negative one.
                let latency = if answered == 0 {
                    1
                } else {
                    learned.at.saturating_sub(answered).max(1)
                };
                let _ = hist.record(latency);
            }
        }
    }
}

pub async fn run(
    addr: &str,
    seeded: &Seeded,
    dashboards: usize,
    scans_per_second: f64,
    seconds: u64,
    rss: impl Fn() -> f64,
    metrics: impl Fn() -> anyhow::Result<String>,
) -> anyhow::Result<FanoutResult> {
    let total_scans = (scans_per_second * seconds as f64) as u64;
    anyhow::ensure!(
        total_scans as usize <= seeded.people.len(),
        "seed at least {total_scans} participants for this fan-out"
    );
    let answers = Arc::new(Answers {
        start: Instant::now(),
        at: (0..=total_scans).map(|_| AtomicU64::new(0)).collect(),
        accepted: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(dashboards.max(1));

    // Connect the dashboards, a few hundred at a time.
    let url = format!("ws://{addr}/ws/events/{EVENT}/live");
    let mut tasks = Vec::with_capacity(dashboards);
    let connecting = Arc::new(tokio::sync::Semaphore::new(256));
    for _ in 0..dashboards {
        let (url, token, answers, mut stop, ready, connecting) = (
            url.clone(),
            seeded.dashboard_token.clone(),
            answers.clone(),
            stop_rx.clone(),
            ready_tx.clone(),
            connecting.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = connecting.acquire().await;
            let Ok(mut request) = url.into_client_request() else {
                let _ = ready.send(false).await;
                return Dashboard::default();
            };
            if let Ok(value) = format!("Bearer {token}").parse() {
                request.headers_mut().insert("authorization", value);
            }
            let Ok((mut socket, _)) = tokio_tungstenite::connect_async_with_config(
                request,
                Some(crate::dashboard_socket::config()),
                false,
            )
            .await
            else {
                let _ = ready.send(false).await;
                return Dashboard::default();
            };
            drop(permit);
            let mut base: Option<i64> = None;
            let mut dashboard = Dashboard::default();
            // One wait for the stop signal, not a new one per message.
            let stopped = stop.changed();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    message = socket.next() => {
                        let Some(Ok(message)) = message else { break };
                        let Message::Text(text) = message else { continue };
                        if base.is_some() {
                            dashboard.updates += 1;
                            dashboard.bytes += text.len() as u64;
                        }
                        let Some(total) = attended_total(&text) else { continue };
                        let now = answers.start.elapsed().as_micros() as u64;
                        match base {
                            None => {
                                base = Some(total);
                                dashboard.seen = Some(0);
                                let _ = ready.send(true).await;
                            }
                            Some(base) => {
                                let seen = dashboard.seen.unwrap_or(0);
                                if total - base > seen {
                                    dashboard.learned.push(Learned {
                                        at: now,
                                        from: seen as u32 + 1,
                                        to: (total - base) as u32,
                                    });
                                    dashboard.seen = Some(total - base);
                                }
                            }
                        }
                    }
                }
            }
            dashboard
        }));
    }
    drop(ready_tx);
    let mut connected = 0;
    for _ in 0..dashboards {
        match ready_rx.recv().await {
            Some(true) => connected += 1,
            Some(false) => {}
            None => break,
        }
    }
    let rss_with_sockets = rss();
    // The hub's figures explain the latencies; without them the run still
    // stands.
    let hub_before = metrics().inspect_err(|e| eprintln!("  /metrics not read: {e:#}"));

    // Scans at a steady rate, each a first check-in of a distinct code.
    let codes: Arc<Vec<String>> = Arc::new(seeded.people.iter().map(|p| p.code.clone()).collect());
    let door = seeded.door_token.clone();
    let make: http::MakeCall = Arc::new(move |n| Call {
        method: Method::POST,
        path: format!("/api/v1/events/{EVENT}/checkins"),
        bearer: Some(door.clone()),
        body: Some(
            format!(
                r#"{{"code":"{}","session":"s0","door":"Bench"}}"#,
                codes[n as usize]
            )
            .into(),
        ),
    });
    let judge: http::Judge = Arc::new(|status, body| {
        if status == 200 && http::contains(body, br#""status":"accepted""#) {
            Verdict::Good
        } else {
            Verdict::Error
        }
    });
    let recorder = answers.clone();
    let on_answer: Arc<dyn Fn(u64, Verdict) + Send + Sync> = Arc::new(move |_, verdict| {
        if verdict == Verdict::Good {
            let k = recorder.accepted.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(slot) = recorder.at.get(k as usize) {
                slot.store(
                    recorder.start.elapsed().as_micros() as u64,
                    Ordering::Relaxed,
                );
            }
        }
    });
    let scans = http::paced(
        addr,
        16,
        scans_per_second,
        total_scans,
        make,
        judge,
        on_answer,
    )
    .await?;

    // Let the last updates arrive (a tick is 100 ms), then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hub = match (hub_before, metrics()) {
        (Ok(before), Ok(after)) => Some(crate::hub_metrics::between(&before, &after)),
        (_, Err(e)) => {
            eprintln!("  /metrics not read: {e:#}");
            None
        }
        _ => None,
    };
    let _ = stop_tx.send(true);
    let mut up_to_date = 0;
    let accepted = answers.accepted.load(Ordering::Relaxed) as i64;
    let (mut updates, mut bytes) = (0u64, 0u64);
    let mut hist = http::histogram();
    for task in tasks {
        let dashboard = task.await?;
        updates += dashboard.updates;
        bytes += dashboard.bytes;
        if dashboard.seen == Some(accepted) {
            up_to_date += 1;
        }
        dashboard.record_latencies(&answers.at, &mut hist);
    }
    Ok(FanoutResult {
        dashboards,
        connected,
        scans: scans.requests,
        scans_per_second: scans.per_second,
        scan_errors: scans.errors,
        scan_p50_ms: scans.p50_ms,
        scan_p99_ms: scans.p99_ms,
        up_to_date,
        deliveries: hist.len(),
        updates,
        mean_update_bytes: if updates == 0 {
            0.0
        } else {
            bytes as f64 / updates as f64
        },
        p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: hist.max() as f64 / 1000.0,
        rss_mib_with_sockets: rss_with_sockets,
        machine: scans.machine,
        hub,
    })
}

#[cfg(test)]
mod tests {
    use super::{Dashboard, Learned};
    use std::sync::atomic::AtomicU64;

    #[test]
    fn each_scan_learned_counts_from_its_own_answer() {
        // Scans 1-3 answered at 10, 20 and 150 µs; 4 never answered.
        let answered: Vec<AtomicU64> = [0, 10, 20, 150, 0]
            .into_iter()
            .map(AtomicU64::new)
            .collect();
        let dashboard = Dashboard {
            seen: Some(4),
            learned: vec![
                Learned {
                    at: 100,
                    from: 1,
                    to: 2,
                },
                Learned {
                    at: 120,
                    from: 3,
                    to: 4,
                },
            ],
            ..Dashboard::default()
        };
        let mut hist = crate::http::histogram();
        dashboard.record_latencies(&answered, &mut hist);
        assert_eq!(hist.len(), 4);
        assert_eq!(hist.count_at(90), 1);
        assert_eq!(hist.count_at(80), 1);
        // Scan 3's update overtook its answer, and 4 was never answered.
        assert_eq!(hist.count_at(1), 2);
    }

    #[test]
    fn finds_the_attended_total_in_snapshots_and_updates() {
        let update = r#"{"type":"update","seq":4,"registered":{"offline":1,"online":2,"total":3},"attended":{"offline":10,"online":2,"total":12}}"#;
        assert_eq!(super::attended_total(update), Some(12));
        assert_eq!(
            super::attended_total(r#"{"type":"update","seq":5,"recent":[]}"#),
            None
        );
    }
}
