//! Group commit: the one way door check-ins and join links are written.
//! Handlers queue a request and wait; a writer thread takes everything
//! queued (up to [`MAX_BATCH`]), decides and records it in one transaction,
//! and answers each request once the commit is durable: one WAL flush per
//! batch instead of one per request, so a door rush or a keynote's join
//! burst is bounded by work, not by the disk's flush rate. Batches form by
//! themselves: while one commits, the next queues up.
//!
//! SQLite has one writer at a time anyway, so it gets one thread per
//! writer. PostgreSQL gets a few, taking turns at the queue: while one waits
//! for its commit to be flushed, the next decides its batch (and PostgreSQL
//! flushes concurrent commits together). Batches running side by side can't
//! count anyone twice: the unique indexes decide.

use super::{DbConnection, DbError, Pool};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The most requests decided in one transaction.
pub const MAX_BATCH: usize = 256;

/// Requests waiting beyond this make handlers wait for room (back-pressure)
/// rather than letting memory grow.
const QUEUE: usize = 8 * MAX_BATCH;

/// Decides and records a batch in one transaction: one answer per request,
/// in order, or an error when nothing was recorded.
pub type DecideBatch<R, A> = fn(&mut DbConnection, &[R]) -> Result<Vec<A>, DbError>;

struct Job<R, A> {
    request: R,
    reply: oneshot::Sender<Result<A, String>>,
}

pub struct GroupWriter<R, A> {
    queue: mpsc::Sender<Job<R, A>>,
}

impl<R, A> Clone for GroupWriter<R, A> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<R: Send + 'static, A: Send + 'static> GroupWriter<R, A> {
    /// Starts `threads` writer threads named `name-N`; they stop when the
    /// last handle is dropped, after answering every request already queued.
    pub fn start(
        name: &str,
        pool: Pool,
        threads: usize,
        decide: DecideBatch<R, A>,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job<R, A>>(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let (pool, jobs) = (pool.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || write_batches(&pool, &jobs, decide))?;
        }
        Ok(Self { queue })
    }

    /// Decides and records one request; the answer arrives once it is
    /// committed.
    pub async fn record(&self, request: R) -> Result<A, DbError> {
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

/// Takes whatever is queued (waiting for at least one request), up to a batch.
fn next_batch<R, A>(jobs: &Mutex<mpsc::Receiver<Job<R, A>>>) -> Option<Vec<Job<R, A>>> {
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

fn write_batches<R, A>(
    pool: &Pool,
    jobs: &Mutex<mpsc::Receiver<Job<R, A>>>,
    decide: DecideBatch<R, A>,
) {
    let record = |requests: &[R]| -> Result<Vec<A>, DbError> {
        let mut conn = pool.get()?;
        decide(&mut conn, requests)
    };
    while let Some(batch) = next_batch(jobs) {
        let (requests, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|j| (j.request, j.reply)).unzip();
        match record(&requests) {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(error) if requests.len() > 1 => {
                // Nothing of the batch was recorded. Decide each request
                // alone, so one bad request fails only itself.
                tracing::warn!(%error, requests = requests.len(), "batch failed; retrying one by one");
                for (request, reply) in requests.iter().zip(replies) {
                    let answer = record(std::slice::from_ref(request))
                        .and_then(|mut answers| {
                            answers.pop().ok_or(DbError::Corrupt("no answer".into()))
                        })
                        .map_err(|e| e.to_string());
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, "write failed; nothing recorded");
                for reply in replies {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
}
