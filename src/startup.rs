//! Builds the running application: pool, migrations, mailer, HTTP server.

use crate::auth::throttle::LoginThrottle;
use crate::auth::tickets::TicketKey;
use crate::config::Config;
use crate::db::{self, Pool};
use crate::live::Live;
use crate::mail::Mailer;
use crate::web::{self, csrf::CsrfKey, AppState};
use actix_session::config::PersistentSession;
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{time::Duration as CookieDuration, Key, SameSite};
use actix_web::dev::Server;
use actix_web::{web::Data, App, HttpServer};
use std::net::TcpListener;
use std::time::Duration;

pub struct Application {
    port: u16,
    base_url: String,
    server: Server,
    state: Data<AppState>,
}

impl Application {
    /// Opens (and migrates) the database and binds the listener; the server
    /// runs once [`Application::run_until_stopped`] is awaited.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database = config.database.clone();
        let pool_size = config.pool_size;
        let pool = actix_web::web::block(move || db::connect(&database, pool_size)).await??;
        let (secret, session_secret, ticket_secret) = db::run(&pool, |conn| {
            Ok((
                db::secrets::get_or_create(conn, "csrf")?,
                db::secrets::get_or_create(conn, "session")?,
                db::secrets::get_or_create(conn, "live-ticket")?,
            ))
        })
        .await?;
        let session_key = Key::try_from(session_secret.as_slice())
            .map_err(|e| anyhow::anyhow!("the stored session key is unusable: {e}"))?;
        let mailer = Mailer::start(&config.mail)?;

        let listener = TcpListener::bind(&config.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let port = listener.local_addr()?.port();
        let base_url = config.base_url(port);
        let secure_cookies = base_url.starts_with("https://");
        let live = Live::start(pool.clone(), &config.database, config.live_share)?;
        // Writer threads per queue: SQLite writes one transaction at a time
        // anyway; PostgreSQL overlaps commits, one batch deciding while
        // another waits for its flush. More writers than cores only take
        // turns on them (2 cores: 5,500–7,800 check-ins/s with 2 writers,
        // ~3,200 with 1, 3,800–5,400 with 3; BENCHMARKS.md history 42).
        // Each holds a pool connection only while it writes a batch, so
        // reads keep most of the pool.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        //
        // On PostgreSQL every transaction costs the server round trips and
        // planning, so at a few scans a second, one transaction a scan took
        // most of its CPU. Below 1,000 requests a second a small batch waits
        // 3 ms once for company: in a fan-out at 500 scans/s PostgreSQL's
        // CPU fell by a third and the p99 at 10,000 dashboards went from
        // 260–344 to 217–255 ms (BENCHMARKS.md history 40). SQLite's door
        // transactions stay in the process and don't wait.
        //
        // Join links linger up to a higher rate, on both backends. Each
        // comes from someone clicking a link, not from a door waiting for
        // its last answer, so at a keynote's 2,000 joins a second they
        // still came one or two a transaction: ~600 µs of PostgreSQL's CPU
        // each (BENCHMARKS.md history 57), and on SQLite a flush of the WAL
        // every two joins, with the write lock the doors need held for each
        // (batches of ~8 instead: the machine's CPU through a burst 0.72–
        // 0.94 → 0.47–0.57 of a core, history 58). A door rush, far above
        // 1,000 scans a second, forms its batches by itself, and a rush's
        // small remainders must not wait (history 40).
        let linger = |below_per_second| {
            Some(crate::db::group_commit::Linger {
                wait: Duration::from_millis(3),
                below_per_second,
            })
        };
        let (checkin_writers, join_writers, checkin_linger, join_linger) = match config.database {
            crate::db::DatabaseUrl::Sqlite(_) => (1, 1, None, linger(10_000.0)),
            crate::db::DatabaseUrl::Postgres(_) => {
                (cores.clamp(2, 8), 2, linger(1_000.0), linger(10_000.0))
            }
        };
        use crate::db::group_commit::GroupWriter;
        let checkins = GroupWriter::start(
            "checkin-writer",
            pool.clone(),
            checkin_writers,
            checkin_linger,
            crate::db::checkins::record_scans,
        )?;
        let joins = GroupWriter::start(
            "join-writer",
            pool.clone(),
            join_writers,
            join_linger,
            crate::db::online::record_joins,
        )?;
        let state = Data::new(AppState {
            metrics: crate::web::metrics::Metrics::new(
                config.metrics_token.clone(),
                live.timings(),
            )?,
            limits: crate::web::limits::RateLimits::new(config.rate_limits),
            live,
            checkins,
            joins,
            tickets: TicketKey::new(&ticket_secret)
                .map_err(|e| anyhow::anyhow!("the stored ticket key is unusable: {e}"))?,
            checkpoints: crate::db::checkpoints::start(&config.database)?,
            pool,
            mailer,
            csrf: CsrfKey::new(&secret, secure_cookies)
                .map_err(|e| anyhow::anyhow!("the stored CSRF key is unusable: {e}"))?,
            // Five wrong passwords per account, or twenty per address, in 15 minutes.
            login_throttle: LoginThrottle::new(Duration::from_secs(15 * 60), 5, 20),
            base_url: base_url.clone(),
        });
        let server_state = state.clone();
        let server = HttpServer::new(move || {
            let sessions =
                SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                    .cookie_name("rollcall_session".into())
                    .cookie_secure(secure_cookies)
                    .cookie_http_only(true)
                    .cookie_same_site(SameSite::Lax)
                    .session_lifecycle(
                        PersistentSession::default()
                            .session_ttl(CookieDuration::hours(web::auth::SESSION_HOURS)),
                    )
                    .build();
            App::new()
                .app_data(server_state.clone())
                .wrap(sessions)
                .configure(web::configure)
        })
        .listen(listener)?
        // Our own signal handling (below) closes live sockets with a reason first.
        .disable_signals()
        .run();
        tracing::info!(port, backend = config.database.backend_name(), "listening");
        Ok(Self {
            port,
            base_url,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn pool(&self) -> &Pool {
        &self.state.pool
    }

    pub fn state(&self) -> Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM, then closes dashboards' sockets with a
    /// reason, stores pending watched time, lets in-flight requests finish
    /// and gives queued mail a few seconds.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let live = self.state.live.clone();
        let mailer = self.state.mailer.clone();
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            live.shutdown().await;
            handle.stop(true).await;
        });
        let stopped = self.server.await;
        // Mail already queued (confirmations of the last registrations) gets
        // a few seconds to go out.
        if tokio::time::timeout(Duration::from_secs(5), mailer.wait_until_sent())
            .await
            .is_err()
        {
            tracing::warn!("shutting down with mail still queued");
        }
        stopped
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
