//! Logging setup. Log lines carry ids and outcomes, never names, emails or codes.

use std::io::{BufWriter, IsTerminal};
use std::sync::mpsc;
use std::time::Duration;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Keeps the log's writer thread; when dropped (at the end of `main`) it
/// writes out the lines still queued, waiting at most 2 s.
#[must_use = "dropping the guard stops the log's writer thread"]
pub struct LogGuard {
    writer: Option<WorkerGuard>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        // `WorkerGuard` waits up to 1.1 s for the queued lines, but when
        // the queue is full it says so with `println!`, which waits for as
        // long as nobody reads stdout: exit doesn't wait on that.
        let (finished, done) = mpsc::channel();
        let dropping = std::thread::Builder::new()
            .name("rollcall-log-end".into())
            .spawn(move || {
                drop(writer);
                let _ = finished.send(());
            });
        if dropping.is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}

/// Lines kept while the writer is behind; past this, new ones are dropped.
pub const QUEUED_LINES: usize = 16_384;

/// Logs to standard output at `ROLLCALL_LOG`'s level (`info` unless set).
///
/// The thread that logs only formats the line: a thread of its own writes
/// the lines, as many as are queued in one `write`. Written by the HTTP
/// workers themselves, a stdout nobody read (a stuck journal, a paused
/// terminal) stopped the whole server once the pipe was full: 523 requests,
/// then no answers, door scans included (`tests/api/logs.rs`). When
/// more lines are queued than it keeps, new ones are dropped rather than
/// holding up requests. Colours only on a terminal, so files and journals
/// get plain text.
pub fn init() -> LogGuard {
    let filter = EnvFilter::try_from_env("ROLLCALL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let stdout = std::io::stdout();
    let colours = stdout.is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        // A second of a door rush's lines. The queue's slots are allocated
        // up front: the default 128,000 took 4.7 MiB of an idle server's
        // 28 MiB.
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("rollcall-log")
        .finish(BufWriter::new(stdout));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(writer)
        .try_init();
    // A second init (tests spawn many apps) keeps the first subscriber.
    LogGuard {
        writer: installed.ok().map(|()| guard),
    }
}
