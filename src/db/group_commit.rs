//! Group commit: the one way door check-ins and join links are written.
//! Handlers queue a request and wait; a writer thread takes everything
//! queued (up to [`MAX_BATCH`]), decides and records it in one transaction,
//! and answers each request once the commit is durable: one WAL flush per
//! batch instead of one per request, so a door rush or a keynote's join
//! burst is bounded by work, not by the disk's flush rate. Batches form by
//! themselves: while one commits, the next queues up.
//!
//! When requests come slowly, a small batch can wait a moment for more,
//! once ([`Linger`]): where a transaction costs the database server round
//! trips and planning, a few scans a second would otherwise be a
//! transaction each. In a rush nobody waits.
//!
//! SQLite has one writer at a time anyway, so it gets one thread per
//! writer. PostgreSQL gets a few, taking turns at the queue: while one waits
//! for its commit to be flushed, the next decides its batch (and PostgreSQL
//! flushes concurrent commits together). Batches running side by side can't
//! count anyone twice: the unique indexes decide.

use super::{DbConnection, DbError, Pool};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The most requests decided in one transaction.
pub const MAX_BATCH: usize = 256;

/// A batch of fewer requests than this may wait for more ([`Linger`]).
pub const SMALL_BATCH: usize = 4;

/// How a writer group waits for company when requests come slowly: a batch
/// smaller than [`SMALL_BATCH`] waits `wait` once, while the requests of
/// the last [`RATE_WINDOW`] came at fewer than `below_per_second`.
#[derive(Clone, Copy, Debug)]
pub struct Linger {
    pub wait: Duration,
    pub below_per_second: f64,
}

/// The stretch of time over which the arrival rate is judged.
pub const RATE_WINDOW: Duration = Duration::from_millis(100);

/// Requests waiting beyond this make handlers wait for room (back-pressure)
/// rather than letting memory grow.
const QUEUE: usize = 8 * MAX_BATCH;

/// Decides and records a batch in one transaction: one answer per request,
/// in order, or an error when nothing was recorded.
pub type DecideBatch<R, A> = fn(&mut DbConnection, &[R]) -> Result<Vec<A>, DbError>;

/// The queue's receiving end, shared by a writer group's threads in turn,
/// the group's linger, and how fast requests have been coming.
struct Jobs<R, A> {
    queue: mpsc::Receiver<Job<R, A>>,
    linger: Option<Linger>,
    window_start: Instant,
    taken_in_window: usize,
    /// The last whole window's rate was under the linger's: small batches
    /// may wait.
    slow: bool,
}

impl<R, A> Jobs<R, A> {
    fn count(&mut self, taken: usize) {
        self.taken_in_window += taken;
        let elapsed = self.window_start.elapsed();
        if elapsed >= RATE_WINDOW {
            let rate = self.taken_in_window as f64 / elapsed.as_secs_f64();
            self.slow = self.linger.is_some_and(|l| rate < l.below_per_second);
            self.window_start = Instant::now();
            self.taken_in_window = 0;
        }
    }
}

struct Job<R, A> {
    request: R,
    reply: oneshot::Sender<Result<A, DbError>>,
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
    /// With a `linger`, small batches wait for company while requests come
    /// slowly.
    pub fn start(
        name: &str,
        pool: Pool,
        threads: usize,
        linger: Option<Linger>,
        decide: DecideBatch<R, A>,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job<R, A>>(QUEUE);
        let jobs = Arc::new(Mutex::new(Jobs {
            queue: jobs,
            linger,
            window_start: Instant::now(),
            taken_in_window: 0,
            slow: linger.is_some(),
        }));
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
        answer.await.map_err(|_| DbError::Cancelled)?
    }
}

/// Takes whatever is queued (waiting for at least one request), up to a
/// batch; while requests come slowly, a small batch waits for more once.
/// The queue stays locked meanwhile: the group's other writers would only
/// take the rest of the same trickle.
fn next_batch<R, A>(jobs: &Mutex<Jobs<R, A>>) -> Option<Vec<Job<R, A>>> {
    let mut jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
    let first = jobs.queue.blocking_recv()?;
    let mut batch = vec![first];
    take_queued(&mut jobs.queue, &mut batch);
    if let Some(linger) = jobs
        .linger
        .filter(|_| jobs.slow && batch.len() < SMALL_BATCH)
    {
        std::thread::sleep(linger.wait);
        take_queued(&mut jobs.queue, &mut batch);
    }
    jobs.count(batch.len());
    Some(batch)
}

fn take_queued<R, A>(queue: &mut mpsc::Receiver<Job<R, A>>, batch: &mut Vec<Job<R, A>>) {
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

fn write_batches<R, A>(pool: &Pool, jobs: &Mutex<Jobs<R, A>>, decide: DecideBatch<R, A>) {
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
            Err(error) if requests.len() > 1 && !error.is_unavailable() => {
                // Nothing of the batch was recorded. Decide each request
                // alone, so one bad request fails only itself. Not when the
                // database is out of reach: each would wait the pool's
                // timeout again, and the doors' scans queue behind them.
                tracing::warn!(%error, requests = requests.len(), "batch failed; retrying one by one");
                for (request, reply) in requests.iter().zip(replies) {
                    let answer = record(std::slice::from_ref(request))
                        .and_then(|mut answers| {
                            answers.pop().ok_or(DbError::Corrupt("no answer".into()))
                        })
                        .map_err(|e| told(&e));
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, requests = requests.len(), "write failed; nothing recorded");
                for reply in replies {
                    let _ = reply.send(Err(told(&error)));
                }
            }
        }
    }
}

/// What each request of a batch that recorded nothing is told: whether the
/// database was out of reach (try again) or the batch failed.
fn told(error: &DbError) -> DbError {
    if error.is_unavailable() {
        DbError::Unavailable(error.to_string())
    } else {
        DbError::Batch(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{connect, DatabaseUrl};

    /// Answers each request with the size of the batch it was decided in.
    fn batch_sizes(_: &mut DbConnection, requests: &[u32]) -> Result<Vec<usize>, DbError> {
        Ok(vec![requests.len(); requests.len()])
    }

    fn writer(linger: Option<Linger>) -> (tempfile::TempDir, GroupWriter<u32, usize>) {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("t.db").display().to_string());
        let pool = connect(&url, 2).unwrap();
        let writer = GroupWriter::start("test-writer", pool, 1, linger, batch_sizes).unwrap();
        (dir, writer)
    }

    /// Waits a second for company while fewer than five requests a second come.
    const PATIENT: Option<Linger> = Some(Linger {
        wait: Duration::from_secs(1),
        below_per_second: 5.0,
    });

    /// Two requests `gap` apart: the batch size each was decided in.
    async fn two_requests(writer: &GroupWriter<u32, usize>, gap: Duration) -> (usize, usize) {
        let first = tokio::spawn({
            let writer = writer.clone();
            async move { writer.record(1).await.unwrap() }
        });
        tokio::time::sleep(gap).await;
        let second = writer.record(2).await.unwrap();
        (first.await.unwrap(), second)
    }

    #[tokio::test]
    async fn a_request_soon_after_a_lone_one_shares_its_batch_while_requests_are_few() {
        let (_dir, writer) = writer(PATIENT);
        let sizes = two_requests(&writer, Duration::from_millis(50)).await;
        assert_eq!(sizes, (2, 2));
    }

    #[tokio::test]
    async fn when_requests_come_fast_a_small_batch_is_decided_at_once() {
        let (_dir, writer) = writer(PATIENT);
        let send = |n| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(n).await.unwrap() })
        };
        // A lone request waits for company, and nine more come: ten in the
        // second it waited, over the rate below which batches wait.
        let mut crowd = vec![send(0)];
        tokio::time::sleep(Duration::from_millis(50)).await;
        crowd.extend((1..10).map(send));
        for request in crowd {
            assert_eq!(request.await.unwrap(), 10);
        }
        let sizes = two_requests(&writer, Duration::from_millis(50)).await;
        assert_eq!(sizes, (1, 1));
    }

    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// Decisions made so far by each failing writer below (tests run side
    /// by side, so one counter each).
    static GONE_DECIDED: AtomicUsize = AtomicUsize::new(0);
    static BAD_DECIDED: AtomicUsize = AtomicUsize::new(0);

    fn database_gone(_: &mut DbConnection, _: &[u32]) -> Result<Vec<usize>, DbError> {
        GONE_DECIDED.fetch_add(1, SeqCst);
        Err(DbError::Unavailable("connection refused".into()))
    }

    fn bad_batch(_: &mut DbConnection, _: &[u32]) -> Result<Vec<usize>, DbError> {
        BAD_DECIDED.fetch_add(1, SeqCst);
        Err(DbError::Corrupt("a row the batch can't take".into()))
    }

    /// Three requests in one batch (the first waits for company) decided by
    /// `decide`: each one's error, and how many decisions were made.
    async fn three_failing(
        decide: DecideBatch<u32, usize>,
        decided: &AtomicUsize,
    ) -> (Vec<DbError>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("t.db").display().to_string());
        let writer =
            GroupWriter::start("test-writer", connect(&url, 2).unwrap(), 1, PATIENT, decide)
                .unwrap();
        let requests: Vec<_> = (0..3)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.record(n).await })
            })
            .collect();
        let mut errors = Vec::new();
        for request in requests {
            errors.push(request.await.unwrap().unwrap_err());
        }
        (errors, decided.load(SeqCst))
    }

    /// A batch that found the database out of reach tells every request
    /// so at once: deciding each alone would wait for the pool again, once
    /// per request, with the doors' scans queued behind.
    #[tokio::test]
    async fn a_batch_that_cannot_reach_the_database_is_not_retried_request_by_request() {
        let (errors, decided) = three_failing(database_gone, &GONE_DECIDED).await;
        assert_eq!(decided, 1);
        assert!(
            errors.iter().all(|e| matches!(e, DbError::Unavailable(_))),
            "{errors:?}"
        );
    }

    /// Any other failure is retried one request at a time, so one bad
    /// request fails only itself (here every one fails).
    #[tokio::test]
    async fn a_failed_batch_is_retried_one_request_at_a_time() {
        let (errors, decided) = three_failing(bad_batch, &BAD_DECIDED).await;
        assert_eq!(decided, 1 + 3);
        assert!(
            errors.iter().all(|e| matches!(e, DbError::Batch(_))),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn without_a_linger_a_lone_request_is_decided_at_once() {
        let (_dir, writer) = writer(None);
        let sizes = two_requests(&writer, Duration::from_millis(300)).await;
        assert_eq!(sizes, (1, 1));
    }
}
