//! Fresh databases filled fast: an event with sessions open now, N
//! participants with real secrets, and (for the report) attendance rows.
//! Bulk rows go in as multi-row INSERTs in one transaction.

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rand::Rng;
use rollcall::db::{self, DatabaseUrl, DbConnection};
use rollcall::domain::{CheckinCode, PageToken};

pub const EVENT: &str = "bench";
const HOUR: i64 = 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database nobody else uses; dropped (PostgreSQL) or deleted (SQLite)
/// when this goes.
pub struct Scratch {
    pub url: DatabaseUrl,
    admin: Option<String>,
    name: String,
    _dir: Option<tempdir::Dir>,
    /// Leave the database behind (for looking at plans by hand).
    pub keep: bool,
}

mod tempdir {
    /// A directory removed on drop (std only, to keep dependencies small).
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Scratch {
    pub fn create(backend: Backend, postgres_admin: Option<&str>) -> anyhow::Result<Self> {
        let name = format!("rollcall_bench_{:016x}", rand::rng().random::<u64>());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)?;
                let path = dir.join("bench.db");
                Ok(Self {
                    url: DatabaseUrl::Sqlite(path.to_string_lossy().into_owned()),
                    admin: None,
                    name,
                    _dir: Some(tempdir::Dir(dir)),
                    keep: false,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin
                    .context("--postgres postgres://USER@HOST:PORT/postgres is needed for the PostgreSQL runs")?
                    .to_string();
                let mut conn = diesel::PgConnection::establish(&admin)
                    .with_context(|| format!("cannot reach PostgreSQL at {admin}"))?;
                conn.batch_execute(&format!("CREATE DATABASE {name}"))?;
                let base = admin
                    .rsplit_once('/')
                    .context("the PostgreSQL URL needs a database name")?
                    .0;
                Ok(Self {
                    url: DatabaseUrl::Postgres(format!("{base}/{name}")),
                    admin: Some(admin),
                    name,
                    _dir: None,
                    keep: false,
                })
            }
        }
    }

    pub fn url_string(&self) -> String {
        self.url.as_str().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("  kept the database: {}", self.url_string());
            // Not removed on drop.
            std::mem::forget(self._dir.take());
            return;
        }
        if let Some(admin) = &self.admin {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin) {
                let _ = conn.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}

/// One seeded participant's secrets.
pub struct Person {
    pub code: String,
    pub page_token: String,
}

pub struct Seeded {
    pub people: Vec<Person>,
    pub door_token: String,
    pub dashboard_token: String,
    pub organiser_token: String,
}

/// What to put in.
pub struct Plan {
    pub participants: usize,
    /// Sessions; every participant is registered for all of them.
    pub sessions: usize,
    /// Attendance rows per participant (≤ sessions): the report's data.
    pub attended_sessions: usize,
    /// Share of participants registered online (they join; the rest are
    /// scanned in person).
    pub online_share: f64,
    /// Participants of an earlier event in the same database, with the same
    /// shape of records (0: none). A real database holds past events, so the
    /// query plans are the ones organisers get, not a one-event special case.
    pub earlier_event_participants: usize,
}

const COUNTRIES: [&str; 12] = [
    "DE", "GB", "CH", "ES", "PL", "NL", "SE", "FR", "IT", "CN", "US", "JP",
];

/// Migrates and fills the database. Sessions run from ten minutes ago for
/// four hours, so doors and join links are open.
pub fn seed(url: &DatabaseUrl, plan: &Plan) -> anyhow::Result<Seeded> {
    let pool = db::connect(url, 1)?;
    let mut conn = pool.get()?;
    let now = db::now_ms();
    if plan.earlier_event_participants > 0 {
        let earlier = Plan {
            participants: plan.earlier_event_participants,
            earlier_event_participants: 0,
            ..*plan
        };
        fill_event(&mut conn, "earlier", &earlier, now - 365 * 24 * HOUR)?;
    }
    let (event_id, people) = fill_event(&mut conn, EVENT, plan, now)?;
    // Fresh statistics, as a database that grew over weeks would have (and,
    // on PostgreSQL, the visibility map autovacuum would have set: index-only
    // scans need it).
    // On PostgreSQL also a checkpoint, as one would have run since the
    // people registered: without it the seeding's WAL (460 MB for 400,000
    // people) forced one a few seconds into the door rush, with a burst of
    // full-page images inside the measured seconds, and the pages the
    // seeding wrote cost no full-page image when the rush first changed
    // them, as they would after any checkpoint.
    match &mut *conn {
        DbConnection::Postgresql(_) => {
            conn.batch_execute("VACUUM ANALYZE")?;
            if let Err(error) = conn.batch_execute("CHECKPOINT") {
                // CHECKPOINT needs a superuser or pg_checkpoint.
                eprintln!("  no checkpoint after seeding ({error}): one may fall inside the runs");
            }
        }
        DbConnection::Sqlite(_) => conn.batch_execute("ANALYZE")?,
    }

    let token = |conn: &mut DbConnection, role: &str| -> anyhow::Result<String> {
        let token = rollcall::auth::tokens::generate();
        let digest = rollcall::auth::tokens::digest(&token).context("token digest")?;
        db::tokens::create(
            conn,
            &db::tokens::NewToken {
                event_id,
                label: &format!("bench {role}"),
                role,
                token_hash: &digest,
                created_by: "bench",
                session_ids: &[],
                now,
            },
        )?;
        Ok(token)
    };
    Ok(Seeded {
        door_token: token(&mut conn, "door")?,
        dashboard_token: token(&mut conn, "dashboard")?,
        organiser_token: token(&mut conn, "organiser")?,
        people: people.into_iter().map(|(p, _, _)| p).collect(),
    })
}

/// A seeded person with their mode and country.
type SeededPerson = (Person, &'static str, &'static str);

/// One event with its sessions, participants, seats and attendance, on at
/// `now`; returns the event's id and its people.
fn fill_event(
    conn: &mut DbConnection,
    slug: &str,
    plan: &Plan,
    now: i64,
) -> anyhow::Result<(i32, Vec<SeededPerson>)> {
    let event_id = db::events::insert_event(
        conn,
        &db::events::NewEvent {
            slug,
            title: "Benchmark Forum",
            description: "",
            venue: "Loopback Hall",
            timezone: "Europe/Berlin",
            starts_at: now - HOUR,
            ends_at: now + 8 * HOUR,
            created_at: now,
        },
    )?;
    let mut session_ids = Vec::new();
    for i in 0..plan.sessions.max(1) {
        let slug = format!("s{i}");
        session_ids.push(db::events::insert_session(
            conn,
            &db::events::NewAgendaSession {
                event_id,
                slug: &slug,
                title: &format!("Session {i}"),
                description: "",
                room: "Hall",
                starts_at: now - 10 * 60_000,
                ends_at: now + 4 * HOUR,
                format: "hybrid",
                capacity_offline: None,
                capacity_online: None,
                stream_url: Some("https://stream.example.org/live"),
                members_only: false,
            },
        )?);
    }

    let mut rng = rand::rng();
    let people: Vec<SeededPerson> = (0..plan.participants)
        .map(|i| {
            let mode = if rng.random_bool(plan.online_share) {
                "online"
            } else {
                "offline"
            };
            (
                Person {
                    code: CheckinCode::generate().as_str().to_string(),
                    page_token: PageToken::generate().as_str().to_string(),
                },
                mode,
                COUNTRIES[i % COUNTRIES.len()],
            )
        })
        .collect();

    conn.transaction::<_, anyhow::Error, _>(|conn| {
        for (chunk_no, chunk) in people.chunks(1000).enumerate() {
            let values: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(j, (p, mode, country))| {
                    let i = chunk_no * 1000 + j;
                    let name = format!("Participant {i}");
                    let folded = rollcall::domain::fold_for_search(&name);
                    format!(
                        "({event_id}, '{name}', '{folded}', 'p{i}@bench.example.org', 'Institute {}', '{country}', '{mode}', 'delegate', 'registered', '{}', '{}', {now})",
                        i % 97, p.code, p.page_token
                    )
                })
                .collect();
            conn.batch_execute(&format!(
                "INSERT INTO participants (event_id, full_name, name_folded, email, affiliation, country, mode, category, status, checkin_code, page_token, created_at) VALUES {}",
                values.join(",")
            ))?;
        }
        // Every participant takes a seat of their mode in every session.
        for session_id in &session_ids {
            conn.batch_execute(&format!(
                "INSERT INTO participant_sessions (participant_id, session_id, seat) \
                 SELECT id, {session_id}, mode FROM participants WHERE event_id = {event_id}"
            ))?;
        }
        // Attendance: in-person people scanned, online people joined (and
        // watched long enough to count), spread over the first hour.
        for session_id in session_ids.iter().take(plan.attended_sessions) {
            conn.batch_execute(&format!(
                "INSERT INTO attendance (event_id, participant_id, session_id, mode, source, door, recorded_by, recorded_at) \
                 SELECT {event_id}, id, {session_id}, mode, \
                        CASE WHEN mode = 'offline' THEN 'door_scan' ELSE 'join_link' END, \
                        CASE WHEN mode = 'offline' THEN 'North' ELSE NULL END, 'bench', \
                        {start} + (id * 7919) % {HOUR} \
                 FROM participants WHERE event_id = {event_id}",
                start = now - 10 * 60_000
            ))?;
            conn.batch_execute(&format!(
                "INSERT INTO watching (participant_id, session_id, event_id, seconds_watched, last_seen) \
                 SELECT id, {session_id}, {event_id}, 600 + (id % 3000), {now} - 60000 \
                 FROM participants WHERE event_id = {event_id} AND mode = 'online'"
            ))?;
        }
        Ok(())
    })?;
    Ok((event_id, people))
}

/// The query plans of the report's statements, as the database explains
/// them (for BENCHMARKS.md: proof that they use indexes at scale).
pub fn explain_stats(url: &DatabaseUrl) -> anyhow::Result<String> {
    let pool = db::connect(url, 1)?;
    let mut conn = pool.get()?;
    let event = db::events::find_event(&mut conn, EVENT)?.context("bench event")?;
    Ok(db::stats::explain_event_stats(
        &mut conn,
        event.id,
        db::now_ms(),
    )?)
}
