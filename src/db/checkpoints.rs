//! SQLite's checkpoints on a thread of their own, off the door writer's
//! path. A checkpoint copies committed pages from the WAL into the
//! database file and flushes it; run by the connection that committed (as
//! SQLite does by default), every commit queued behind it waited for that
//! flush, and in a slow hour those waits set the door rush's p99 (19.3
//! against 12.4–14.3 ms without checkpoints; BENCHMARKS.md history 49).
//! Here a thread copies whatever was committed every [`EVERY`], beside
//! the writer. A checkpoint beside a writer that never pauses can't copy
//! the last frames, and the WAL only starts over once it has, so the
//! pool's connections keep SQLite's own checkpoint at [`WAL_BOUND_PAGES`]:
//! the WAL can't grow past that, and by then the thread has copied most
//! of it.

use super::{ConnectionManager, DatabaseUrl};
use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How often the thread checkpoints. Each one that finds new frames
/// flushes the database file once.
const EVERY: Duration = Duration::from_millis(100);

/// The WAL's size, in pages, at which a committing connection checkpoints
/// itself (`PRAGMA wal_autocheckpoint`): 80 MiB at 4 KiB a page.
pub(super) const WAL_BOUND_PAGES: u32 = 20_000;

/// Keeps the checkpoint thread running; dropping it stops the thread.
pub struct Checkpointer {
    _running: mpsc::Sender<()>,
}

/// Starts the thread for a SQLite database; PostgreSQL has its own.
pub fn start(url: &DatabaseUrl) -> std::io::Result<Option<Checkpointer>> {
    if !matches!(url, DatabaseUrl::Sqlite(_)) {
        return Ok(None);
    }
    let manager = ConnectionManager { url: url.clone() };
    let (running, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("wal-checkpoints".into())
        .spawn(move || {
            let mut conn: Option<super::DbConnection> = None;
            // Logged when checkpoints start failing, not every 100 ms.
            let mut failing = false;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                let done = match &mut conn {
                    Some(open) => open
                        .batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                        .map_err(|e| e.to_string()),
                    None => manager
                        .connect()
                        .map(|open| conn = Some(open))
                        .map_err(|e| e.to_string()),
                };
                match done {
                    Ok(()) => failing = false,
                    Err(error) => {
                        if !failing {
                            tracing::warn!(%error, "SQLite checkpoint failed; retrying");
                        }
                        failing = true;
                        conn = None;
                    }
                }
            }
        })?;
    Ok(Some(Checkpointer { _running: running }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    use std::time::Instant;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Rows in the database file itself: `immutable=1` reads it without
    /// the WAL, so only checkpointed rows count.
    fn rows_in_the_file(path: &str) -> i64 {
        let mut file = SqliteConnection::establish(&format!("file:{path}?immutable=1")).unwrap();
        diesel::sql_query("SELECT COUNT(*) AS n FROM events")
            .get_result::<Count>(&mut file)
            .unwrap()
            .n
    }

    #[test]
    fn committed_rows_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.db").display().to_string();
        let url = DatabaseUrl::parse(&path).unwrap();
        let pool = super::super::connect(&url, 2).unwrap();
        let checkpointer = start(&url).unwrap();
        assert!(checkpointer.is_some());
        // A few pages, far below the pool's own bound: only the thread
        // copies them into the file.
        let mut conn = pool.get().unwrap();
        conn.batch_execute(
            "INSERT INTO events (slug, title, timezone, starts_at, ends_at, created_at) \
             VALUES ('a', 'A', 'UTC', 0, 1, 0), ('b', 'B', 'UTC', 0, 1, 0)",
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while rows_in_the_file(&path) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            rows_in_the_file(&path),
            2,
            "the thread copied the rows into the file"
        );
    }

    #[test]
    fn postgres_gets_no_thread() {
        let url = DatabaseUrl::parse("postgres://nobody@127.0.0.1:1/none").unwrap();
        assert!(start(&url).unwrap().is_none());
    }
}
