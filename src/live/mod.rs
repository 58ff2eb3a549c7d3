//! Live attendance: one hub per process that recomputes an event's numbers
//! when they change (at most ten times a second), serialises each update
//! once and pushes it to every dashboard socket of that event. On
//! PostgreSQL instances tell each other which events they changed: each
//! hub NOTIFYs at its tick, and a listener thread hears the others'.
//!
//! All of actix (actors) and actix-web-actors lives in this folder.

mod hub;
mod listener;
mod presence;
pub mod protocol;
mod socket;
mod timings;
mod watch_socket;

use crate::db::{DatabaseUrl, Pool};
use actix::{Actor, Addr};
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::atomic::{AtomicU64, Ordering};

pub use hub::{Hub, SHARE};
pub use timings::HubTimings;

/// The handle the web layer holds.
#[derive(Clone)]
pub struct Live {
    hub: Addr<Hub>,
    counts: std::sync::Arc<hub::SocketCounts>,
    changed: std::sync::Arc<hub::ChangedEvents>,
    /// PostgreSQL: what the hub tells the other instances (see `changed`).
    to_announce: Option<std::sync::Arc<hub::ChangedEvents>>,
    timings: HubTimings,
}

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

impl Live {
    /// Starts the hub (and on PostgreSQL the listener) in the current System;
    /// it hands updates to `share` dashboards at a time.
    pub fn start(pool: Pool, database: &DatabaseUrl, share: usize) -> prometheus::Result<Live> {
        let counts = std::sync::Arc::new(hub::SocketCounts::default());
        let changed = std::sync::Arc::new(hub::ChangedEvents::default());
        let to_announce = matches!(database, DatabaseUrl::Postgres(_))
            .then(|| std::sync::Arc::new(hub::ChangedEvents::default()));
        let timings = HubTimings::new()?;
        let hub = Hub::new(
            pool,
            counts.clone(),
            changed.clone(),
            to_announce.clone(),
            share,
            timings.clone(),
        )
        .start();
        if let DatabaseUrl::Postgres(url) = database {
            listener::spawn(url.clone(), hub.clone(), changed.clone());
        }
        Ok(Live {
            hub,
            counts,
            changed,
            to_announce,
            timings,
        })
    }

    /// How long the hub's passes and computations take, for /metrics.
    pub fn timings(&self) -> &HubTimings {
        &self.timings
    }

    /// Open (dashboard, watch-page) sockets, for /metrics.
    pub fn socket_counts(&self) -> (i64, i64) {
        (
            self.counts.dashboards.load(Ordering::Relaxed),
            self.counts.watchers.load(Ordering::Relaxed),
        )
    }

    /// Something at `event_id` changed and is committed: dashboards here
    /// refresh within a tick, and on PostgreSQL the hub tells the other
    /// instances at that tick (one NOTIFY per event, not per change). Every
    /// handler that writes what the numbers show calls this.
    pub fn changed(&self, event_id: i32) {
        self.changed.mark(event_id);
        if let Some(others) = &self.to_announce {
            others.mark(event_id);
        }
    }

    /// Closes every dashboard socket with a reason (server shutting down)
    /// and stores the watched time not yet written.
    pub async fn shutdown(&self) {
        let _ = self.hub.send(hub::Shutdown).await;
    }

    /// Upgrades a participant's watch page to a presence socket: they count
    /// as watching the session while it is open.
    pub fn watch_socket(
        &self,
        req: &HttpRequest,
        stream: web::Payload,
        participant_id: i32,
        session_id: i32,
        event_id: i32,
    ) -> Result<HttpResponse, actix_web::Error> {
        let id = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
        watch_socket::start(
            id,
            participant_id,
            session_id,
            event_id,
            self.hub.clone(),
            req,
            stream,
        )
    }

    /// Upgrades an authorised request to a dashboard socket for the event.
    pub fn websocket(
        &self,
        req: &HttpRequest,
        stream: web::Payload,
        event_id: i32,
        event_slug: String,
    ) -> Result<HttpResponse, actix_web::Error> {
        let id = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
        socket::start(id, event_id, event_slug, self.hub.clone(), req, stream)
    }
}
