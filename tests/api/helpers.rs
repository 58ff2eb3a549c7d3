//! `TestApp`: a fresh database, the app on a free port, and a client that
//! keeps cookies, with methods that read like what a user does.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use rollcall::config::{Config, MailConfig};
use rollcall::db::events::{NewAgendaSession, NewEvent};
use rollcall::db::{self, DatabaseUrl, Pool};
use rollcall::startup::Application;
use scraper::{Html, Selector};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const EVENT: &str = "test-forum";
pub const HOUR: i64 = 3_600_000;

pub struct TestApp {
    pub address: String,
    pub pool: Pool,
    pub client: reqwest::Client,
    pub outbox: PathBuf,
    pub database: TestDatabase,
    pub live: rollcall::live::Live,
    _dir: tempfile::TempDir,
}

/// A database nobody else uses: a new SQLite file, or a new PostgreSQL
/// database on the server named by ROLLCALL_TEST_POSTGRES, dropped again
/// when this is (a developer's own server would otherwise keep one
/// database per test run).
pub struct TestDatabase {
    url: DatabaseUrl,
    /// The server's admin URL and the database's name, to drop it.
    owned: Option<(String, String)>,
}

impl std::ops::Deref for TestDatabase {
    type Target = DatabaseUrl;
    fn deref(&self) -> &DatabaseUrl {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = &self.owned else {
            return;
        };
        // FORCE: the app under test may still hold pooled connections.
        let dropped = diesel::PgConnection::establish(admin_url).and_then(|mut admin| {
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
        });
        if let Err(error) = dropped {
            eprintln!("test database {name} left behind: {error}");
        }
    }
}

pub fn fresh_database(dir: &std::path::Path) -> TestDatabase {
    match std::env::var("ROLLCALL_TEST_POSTGRES") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("rollcall_t_{}", random_hex());
            let mut admin = diesel::PgConnection::establish(&admin_url)
                .expect("ROLLCALL_TEST_POSTGRES must reach a PostgreSQL server");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create a test database");
            let base = admin_url
                .rsplit_once('/')
                .expect("a URL with a database name")
                .0;
            // Loopback needs no TLS; see PGSSLMODE in .ci/run for why it is off.
            let url = DatabaseUrl::Postgres(format!("{base}/{name}?sslmode=disable"));
            TestDatabase {
                url,
                owned: Some((admin_url, name)),
            }
        }
        _ => TestDatabase {
            url: DatabaseUrl::Sqlite(dir.join("rollcall.db").to_string_lossy().into_owned()),
            owned: None,
        },
    }
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TestApp {
    /// The app with the test forum (see [`seed_test_forum`]) loaded.
    pub async fn spawn() -> TestApp {
        let app = Self::spawn_empty().await;
        db::run(&app.pool, |conn| {
            seed_test_forum(conn, db::now_ms());
            Ok(())
        })
        .await
        .unwrap();
        app
    }

    pub async fn spawn_empty() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database = fresh_database(dir.path());
        Self::spawn_on(database, dir).await
    }

    /// The test forum, with these rate limits instead of the tests' lax ones.
    pub async fn spawn_with_limits(limits: rollcall::web::limits::RateLimitConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database = fresh_database(dir.path());
        let app = Self::spawn_configured(database, dir, limits).await;
        db::run(&app.pool, |conn| {
            seed_test_forum(conn, db::now_ms());
            Ok(())
        })
        .await
        .unwrap();
        app
    }

    /// A second instance of the app on this one's database (PostgreSQL
    /// only: SQLite is a one-instance setup).
    pub async fn second_instance(&self) -> Option<TestApp> {
        match &*self.database {
            DatabaseUrl::Postgres(_) => {
                let shared = TestDatabase {
                    url: self.database.url.clone(),
                    owned: None,
                };
                Some(Self::spawn_on(shared, tempfile::tempdir().unwrap()).await)
            }
            DatabaseUrl::Sqlite(_) => None,
        }
    }

    async fn spawn_on(database: TestDatabase, dir: tempfile::TempDir) -> TestApp {
        // Tests register many people from one address; the limits have
        // their own test.
        let lax = rollcall::web::limits::RateLimitConfig {
            registrations_per_minute: 100_000,
            failed_lookups_per_minute: 100_000,
            trusted_proxies: Vec::new(),
        };
        Self::spawn_configured(database, dir, lax).await
    }

    async fn spawn_configured(
        database: TestDatabase,
        dir: tempfile::TempDir,
        rate_limits: rollcall::web::limits::RateLimitConfig,
    ) -> TestApp {
        if std::env::var_os("ROLLCALL_LOG").is_some() {
            // Once for the whole run, kept to its end.
            static LOG: std::sync::OnceLock<rollcall::telemetry::LogGuard> =
                std::sync::OnceLock::new();
            LOG.get_or_init(rollcall::telemetry::init);
        }
        let outbox = dir.path().join("outbox");
        let config = Config {
            database: database.url.clone(),
            bind: "127.0.0.1:0".into(),
            public_url: Some("https://rollcall.test".into()),
            mail: MailConfig {
                outbox_dir: outbox.clone(),
                smtp_url: None,
                from: "Rollcall <rollcall@example.org>".into(),
            },
            pool_size: 4,
            rate_limits,
            metrics_token: Some(METRICS_TOKEN.into()),
            // Shares of 100, so a test's few hundred dashboards take several.
            live_share: 100,
        };
        let app = Application::build(config).await.expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool().clone();
        let live = app.state().live.clone();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            address,
            pool,
            client,
            outbox,
            database,
            live,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_html(&self, path: &str) -> (u16, Html) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (
            status,
            Html::parse_document(&response.text().await.unwrap()),
        )
    }

    /// Opens the event page (which sets the CSRF cookie) and returns the
    /// form's token, as a browser would before submitting.
    pub async fn csrf_token(&self, path: &str) -> String {
        let (status, page) = self.get_html(path).await;
        assert_eq!(status, 200, "{path} should open");
        attr(&page, "input[name=csrf_token]", "value").expect("the form carries a CSRF token")
    }

    /// Submits the registration form with these fields (and a valid token).
    pub async fn register(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token(&format!("/events/{EVENT}")).await;
        let mut body: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        body.extend_from_slice(fields);
        self.post_form(&format!("/events/{EVENT}/register"), &body)
            .await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = serde_html_form::to_string(fields).unwrap();
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes())
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a valid participant and returns their personal-page path.
    pub async fn register_ok(&self, email: &str, mode: &str, sessions: &[&str]) -> String {
        let mut fields = valid_fields(email, mode);
        for s in sessions {
            fields.push(("sessions", s));
        }
        let response = self.register(&fields).await;
        assert_eq!(
            response.status().as_u16(),
            303,
            "registration of {email} should succeed"
        );
        location(&response)
    }

    /// Cancels the registration behind a personal page, as its owner does
    /// (the confirmation form, then its CSRF-protected post).
    pub async fn cancel_registration(&self, page: &str) -> reqwest::Response {
        let cancel = format!("{page}/cancel");
        let token = self.csrf_token(&cancel).await;
        self.post_form(&cancel, &[("csrf_token", token.as_str())])
            .await
    }

    /// Messages in the outbox, waiting briefly for the mail task.
    pub async fn outbox_messages(&self, at_least: usize) -> Vec<String> {
        for _ in 0..100 {
            let messages = read_outbox(&self.outbox);
            if messages.len() >= at_least {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        read_outbox(&self.outbox)
    }

    /// Runs a query against the app's database.
    pub async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut db::DbConnection) -> Result<T, db::DbError> + Send + 'static,
    ) -> T {
        db::run(&self.pool, work).await.unwrap()
    }
}

fn read_outbox(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

pub fn valid_fields<'a>(email: &'a str, mode: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("full_name", "Ada Lovelace"),
        ("email", email),
        ("affiliation", "Analytical Engine Society"),
        ("country", "GB"),
        ("mode", mode),
        ("category", "delegate"),
        ("consent", "yes"),
    ]
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string()
}

pub fn attr(page: &Html, selector: &str, name: &str) -> Option<String> {
    let selector = Selector::parse(selector).unwrap();
    page.select(&selector)
        .next()?
        .value()
        .attr(name)
        .map(str::to_string)
}

pub fn text(page: &Html, selector: &str) -> String {
    let selector = Selector::parse(selector).unwrap();
    page.select(&selector)
        .map(|e| e.text().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn count(page: &Html, selector: &str) -> usize {
    page.select(&Selector::parse(selector).unwrap()).count()
}

/// A small event: a hybrid keynote with two in-person seats, a room-only
/// lab tour with one, a members-only meeting and an online webinar, all
/// starting within the hour.
pub fn seed_test_forum(conn: &mut db::DbConnection, now: i64) {
    let event_id = db::events::insert_event(
        conn,
        &NewEvent {
            slug: EVENT,
            title: "Test Forum",
            description: "A forum for tests.",
            venue: "Test Hall",
            timezone: "Europe/Berlin",
            starts_at: now,
            ends_at: now + 8 * HOUR,
            created_at: now,
        },
    )
    .unwrap();
    let sessions = [
        ("keynote", "Keynote", "hybrid", Some(2), false),
        ("lab-tour", "Lab Tour", "in_person", Some(1), false),
        ("members-meeting", "Members' Meeting", "hybrid", None, true),
        ("webinar", "Webinar", "online", None, false),
    ];
    for (i, (slug, title, format, capacity, members_only)) in sessions.into_iter().enumerate() {
        db::events::insert_session(
            conn,
            &NewAgendaSession {
                event_id,
                slug,
                title,
                description: "",
                room: "Room 1",
                starts_at: now + (i as i64) * HOUR,
                ends_at: now + (i as i64 + 1) * HOUR,
                format,
                capacity_offline: capacity,
                capacity_online: None,
                stream_url: Some("https://stream.example.org/test"),
                members_only,
            },
        )
        .unwrap();
    }
}

pub const PASSWORD: &str = "correct horse battery";
/// What test apps accept for GET /metrics.
pub const METRICS_TOKEN: &str = "metrics-test-token";

impl TestApp {
    /// A staff account (password [`PASSWORD`]).
    pub async fn create_staff(&self, username: &str, role: &str, event: Option<&str>) {
        let (username, role, event) = (
            username.to_string(),
            role.to_string(),
            event.map(str::to_string),
        );
        let hash = rollcall::auth::password::hash(PASSWORD).unwrap();
        self.db(move |conn| {
            let event_id = match event {
                Some(slug) => Some(db::events::find_event(conn, &slug)?.unwrap().id),
                None => None,
            };
            db::staff::create(conn, &username, &hash, &role, event_id, db::now_ms())
        })
        .await;
    }

    /// Signs in through the form, as a browser would.
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let (_, page) = self.get_html("/login").await;
        let token = attr(&page, "input[name=csrf_token]", "value").unwrap();
        self.post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
                ("next", "/admin"),
            ],
        )
        .await
    }

    /// A device token for the test forum (or `event`), limited to `sessions` if any.
    pub async fn create_token(&self, event: &str, role: &str, sessions: &[&str]) -> String {
        let token = rollcall::auth::tokens::generate();
        let digest = rollcall::auth::tokens::digest(&token).unwrap();
        let (event, role) = (event.to_string(), role.to_string());
        let sessions: Vec<String> = sessions.iter().map(|s| s.to_string()).collect();
        self.db(move |conn| {
            let event = db::events::find_event(conn, &event)?.unwrap();
            let mut ids = Vec::new();
            for slug in &sessions {
                ids.push(db::events::find_session(conn, event.id, slug)?.unwrap().id);
            }
            db::tokens::create(
                conn,
                &db::tokens::NewToken {
                    event_id: event.id,
                    label: "test door",
                    role: &role,
                    token_hash: &digest,
                    created_by: "test",
                    session_ids: &ids,
                    now: db::now_ms(),
                },
            )
        })
        .await;
        token
    }

    /// POSTs JSON to the API with a bearer token; returns status and body.
    pub async fn api_post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn scan(&self, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.api_post(token, &format!("/api/v1/events/{EVENT}/checkins"), body)
            .await
    }

    /// An undo of `participant_id`'s record for `session` (a slug), as the
    /// API's caller `token`.
    pub async fn undo(
        &self,
        token: &str,
        participant_id: impl Into<serde_json::Value>,
        session: &str,
    ) -> (u16, serde_json::Value) {
        let body = serde_json::json!({
            "participant_id": participant_id.into(),
            "session": session,
        });
        self.api_post(
            token,
            &format!("/api/v1/events/{EVENT}/checkins/undo"),
            body,
        )
        .await
    }

    /// The check-in log as the organisers' log page lists it, newest first.
    pub async fn log_lines(&self) -> Vec<rollcall::db::checkins::LogEntry> {
        self.db(|conn| {
            let event = rollcall::db::events::find_event(conn, EVENT)?.unwrap();
            rollcall::db::checkins::recent_log(conn, event.id, 1000)
        })
        .await
    }

    /// The check-in code of the participant registered with `email`.
    pub async fn code_of(&self, email: &str) -> String {
        use diesel::prelude::*;
        use rollcall::db::schema::participants;
        let email = email.to_string();
        self.db(move |conn| {
            Ok(participants::table
                .filter(participants::email.eq(email))
                .select(participants::checkin_code)
                .first::<String>(conn)?)
        })
        .await
    }

    /// A second event (no sessions), open around now.
    pub async fn create_other_event(&self, slug: &'static str) {
        self.db(move |conn| {
            rollcall::db::events::insert_event(
                conn,
                &rollcall::db::events::NewEvent {
                    slug,
                    title: "Another event",
                    description: "",
                    venue: "",
                    timezone: "UTC",
                    starts_at: 0,
                    ends_at: i64::MAX / 2,
                    created_at: 0,
                },
            )
        })
        .await;
    }

    /// The stats API's answer for the test forum.
    pub async fn stats(&self, token: &str) -> serde_json::Value {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/events/{EVENT}/stats")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    /// Removes every session's seat limits.
    pub async fn lift_capacities(&self) {
        use diesel::prelude::*;
        use rollcall::db::schema::agenda_sessions;
        self.db(|conn| {
            Ok(diesel::update(agenda_sessions::table)
                .set(agenda_sessions::capacity_offline.eq(None::<i32>))
                .execute(conn)?)
        })
        .await;
    }

    /// Opens every session's doors now (a wide grace period).
    pub async fn open_all_doors(&self) {
        use diesel::prelude::*;
        use rollcall::db::schema::events;
        self.db(|conn| {
            Ok(diesel::update(events::table)
                .set(events::checkin_grace_minutes.eq(24 * 60))
                .execute(conn)?)
        })
        .await;
    }
}

/// (id, mode, status) and (participant id, mode, session slug) rows.
type Person = (i32, String, String);
type Record = (i32, String, Option<String>);

impl TestApp {
    pub async fn participant_id(&self, code: &str) -> Option<i32> {
        use diesel::prelude::*;
        use rollcall::db::schema::participants;
        let code = code.to_string();
        self.db(move |conn| {
            Ok(participants::table
                .filter(participants::checkin_code.eq(code))
                .select(participants::id)
                .first::<i32>(conn)
                .optional()?)
        })
        .await
    }

    /// Attendance counted the plain way, row by row, to check the SQL
    /// aggregates against: registered/attended totals and per-session counts.
    pub async fn count_by_hand(&self) -> serde_json::Value {
        use diesel::prelude::*;
        use rollcall::db::schema::{
            agenda_sessions, attendance, participant_sessions, participants,
        };
        use std::collections::{BTreeMap, HashSet};
        let (people, records, seats): (Vec<Person>, Vec<Record>, Vec<(String, String)>) = self
            .db(|conn| {
                let people = participants::table
                    .select((participants::id, participants::mode, participants::status))
                    .load(conn)?;
                let seats = participant_sessions::table
                    .inner_join(participants::table)
                    .inner_join(agenda_sessions::table)
                    .filter(participants::status.eq("registered"))
                    .select((agenda_sessions::slug, participant_sessions::seat))
                    .load(conn)?;
                let records = attendance::table
                    .left_join(
                        agenda_sessions::table
                            .on(agenda_sessions::id.nullable().eq(attendance::session_id)),
                    )
                    .select((
                        attendance::participant_id,
                        attendance::mode,
                        agenda_sessions::slug.nullable(),
                    ))
                    .load(conn)?;
                Ok((people, records, seats))
            })
            .await;
        let live = |mode: &str| {
            people
                .iter()
                .filter(|(_, m, s)| m == mode && s == "registered")
                .count()
        };
        let in_person: HashSet<i32> = records
            .iter()
            .filter(|(_, m, _)| m == "offline")
            .map(|(p, _, _)| *p)
            .collect();
        let anyone: HashSet<i32> = records.iter().map(|(p, _, _)| *p).collect();
        let mut per_session: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
        for (_, mode, slug) in &records {
            if let Some(slug) = slug {
                *per_session
                    .entry(slug.clone())
                    .or_default()
                    .entry(if mode == "offline" {
                        "offline"
                    } else {
                        "online"
                    })
                    .or_default() += 1;
            }
        }
        let column = |mode: &str| -> serde_json::Map<String, serde_json::Value> {
            ["keynote", "lab-tour", "members-meeting", "webinar"]
                .iter()
                .map(|slug| {
                    (
                        slug.to_string(),
                        serde_json::json!(per_session
                            .get(*slug)
                            .and_then(|m| m.get(mode))
                            .copied()
                            .unwrap_or(0)),
                    )
                })
                .collect()
        };
        // Seats held by live registrations, counted from the rows (the
        // stats read a table triggers keep).
        let seats_of = |seat: &str| -> serde_json::Map<String, serde_json::Value> {
            ["keynote", "lab-tour", "members-meeting", "webinar"]
                .iter()
                .map(|slug| {
                    let n = seats.iter().filter(|(s, m)| s == slug && m == seat).count();
                    (slug.to_string(), serde_json::json!(n))
                })
                .collect()
        };
        serde_json::json!({
            "registered": {"offline": live("offline"), "online": live("online"), "total": live("offline") + live("online")},
            "attended": {"offline": in_person.len(), "online": anyone.len() - in_person.len(), "total": anyone.len()},
            "cancelled": people.iter().filter(|(_, _, s)| s == "cancelled").count(),
            "in_person": column("offline"),
            "online": column("online"),
            "seats_offline": seats_of("offline"),
            "seats_online": seats_of("online"),
        })
    }
}

/// Opens a watch page's presence socket for the registrant at `personal`
/// (their page's path): they count as watching `slug` while it is open.
pub async fn watch(
    app: &TestApp,
    personal: &str,
    slug: &str,
) -> actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec> {
    let token = personal.trim_start_matches("/r/");
    let (_, socket) = awc::Client::new()
        .ws(app.url(&format!("/ws/watch/{token}/{slug}")))
        .connect()
        .await
        .expect("the watch socket opens");
    socket
}

/// Polls `check` every 20 ms until it gives a value, and fails with
/// `waiting_for()` (which may say how far it got) after `within`: for what
/// a loaded CI runner may take longer to do, without a fixed sleep.
pub async fn eventually<T>(
    within: Duration,
    waiting_for: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let began = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(began.elapsed() < within, "{}", waiting_for());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `rollcall serve` as an operator runs it: the binary under test, in a
/// process of its own, on a free port.
pub struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Logging errors only, its output discarded.
    pub fn start(database: &DatabaseUrl, outbox: &std::path::Path) -> ServerProcess {
        ServerProcess::start_logging(database, outbox, "error", Stdio::null())
    }

    /// Logging at `level` to `stdout`.
    pub fn start_logging(
        database: &DatabaseUrl,
        outbox: &std::path::Path,
        level: &str,
        stdout: Stdio,
    ) -> ServerProcess {
        let url = database.as_str();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--outbox")
            .arg(outbox)
            .env("ROLLCALL_DATABASE_URL", url)
            .env("ROLLCALL_LOG", level)
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .expect("start rollcall serve");
        let server = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let began = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The read end of its standard output, when started with a pipe.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// SIGTERM, as a service manager stops it: the exit status, once it
    /// has finished.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let began = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                began.elapsed() < Duration::from_secs(20),
                "the server did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown handler runs, nothing is flushed on the way out.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
