//! The one writer of door check-ins. Handlers queue a scan and wait; a
//! thread takes everything queued (up to [`MAX_BATCH`]), decides and records
//! it in one transaction, and answers each scan once the commit is durable:
//! one WAL flush per batch instead of one per scan, so a door rush is bounded
//! by work, not by the disk's flush rate. Batches form by themselves: while
//! one commits, the next queues up.
//!
//! SQLite has one writer at a time anyway, so it gets one thread. PostgreSQL
//! gets a few, taking turns at the queue: while one waits for its commit to
//! be flushed, the next decides its batch (and PostgreSQL flushes concurrent
//! commits together). Batches running side by side can't count anyone
//! twice: the unique index decides, and a scan whose insert it refused is
//! decided again on the careful path (see `checkins::record_batch`).

use super::checkins::{record_scans, ScanOutcome, ScanRequest, MAX_BATCH};
use super::{DbError, Pool};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Scans waiting beyond this make handlers wait for room (back-pressure)
/// rather than letting memory grow.
const QUEUE: usize = 8 * MAX_BATCH;

struct Job {
    request: ScanRequest,
    reply: oneshot::Sender<Result<ScanOutcome, String>>,
}

#[derive(Clone)]
pub struct CheckinWriter {
    queue: mpsc::Sender<Job>,
}

impl CheckinWriter {
    /// Starts `threads` writer threads; they stop when the last handle is
    /// dropped, after answering every scan already queued.
    pub fn start(pool: Pool, threads: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let (pool, jobs) = (pool.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("checkin-writer-{n}"))
                .spawn(move || write_batches(&pool, &jobs))?;
        }
        Ok(Self { queue })
    }

    /// Checks, decides and records one scan; the answer arrives once it is
    /// committed.
    pub async fn record(&self, request: ScanRequest) -> Result<ScanOutcome, DbError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { request, reply })
            .await
            .map_err(|_| DbError::Cancelled)?;
        answer
            .await
            .map_err(|_| DbError::Cancelled)?
            .map_err(DbError::Batch)
    }
}

/// Takes whatever is queued (waiting for at least one scan), up to a batch.
fn next_batch(jobs: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
    let first = jobs.blocking_recv()?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn write_batches(pool: &Pool, jobs: &Mutex<mpsc::Receiver<Job>>) {
    while let Some(batch) = next_batch(jobs) {
        let (requests, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|j| (j.request, j.reply)).unzip();
        match record(pool, &requests) {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(error) if requests.len() > 1 => {
                // Nothing of the batch was recorded. Decide each scan alone,
                // so one bad scan fails only itself.
                tracing::warn!(%error, scans = requests.len(), "check-in batch failed; retrying one by one");
                for (request, reply) in requests.iter().zip(replies) {
                    let answer = record(pool, std::slice::from_ref(request))
                        .and_then(|mut answers| {
                            answers.pop().ok_or(DbError::Corrupt("no answer".into()))
                        })
                        .map_err(|e| e.to_string());
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, "check-in failed; nothing recorded");
                for reply in replies {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}

fn record(pool: &Pool, requests: &[ScanRequest]) -> Result<Vec<ScanOutcome>, DbError> {
    let mut conn = pool.get()?;
    record_scans(&mut conn, requests)
}
