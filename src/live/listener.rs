//! PostgreSQL LISTEN: hears changes committed by any instance (their hubs
//! NOTIFY `rollcall_live` with the event id after the changes committed;
//! the `import` command does too) and marks them for the hub.

use super::hub::{ChangedEvents, Hub};
use actix::Addr;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CHANNEL: &str = "rollcall_live";
const POLL: Duration = Duration::from_millis(20);
const PROBE: Duration = Duration::from_secs(5);

/// A thread of its own: libpq's notification API is polled, and this keeps
/// the polling off the async executor. It ends when the hub stops.
pub fn spawn(url: String, hub: Addr<Hub>, changed: Arc<ChangedEvents>) {
    let spawned = std::thread::Builder::new()
        .name("rollcall-listen".into())
        .spawn(move || {
            while hub.connected() {
                if let Err(error) = listen(&url, &hub, &changed) {
                    tracing::warn!(%error, "live listener lost PostgreSQL; reconnecting");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the live listener; other instances' changes will show within 15 s");
    }
}

fn listen(
    url: &str,
    hub: &Addr<Hub>,
    changed: &ChangedEvents,
) -> Result<(), diesel::result::Error> {
    let mut conn = PgConnection::establish(url).map_err(|e| {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new(e.to_string()),
        )
    })?;
    conn.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    // Anything may have changed while we weren't listening.
    changed.mark_everything();
    let mut probed = Instant::now();
    while hub.connected() {
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if let Ok(event_id) = notification.payload.parse::<i32>() {
                changed.mark(event_id);
            }
        }
        if probed.elapsed() >= PROBE {
            conn.batch_execute("SELECT 1")?;
            probed = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
