//! Crash safety: the server is killed with SIGKILL while doors scan and
//! people register, restarted, killed again. Every scan answered "accepted"
//! and every registration answered with a redirect must be in the database,
//! exactly once.

use crate::helpers::*;
use diesel::prelude::*;
use rollcall::db::{self, schema, DatabaseUrl};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the clients were told.
#[derive(Default)]
struct Told {
    accepted_codes: HashSet<String>,
    registered_emails: HashSet<String>,
}

async fn scan_until_refused(
    base: String,
    door: String,
    codes: Arc<Mutex<Vec<String>>>,
    told: Arc<Mutex<Told>>,
) {
    let client = reqwest::Client::new();
    loop {
        let Some(code) = codes.lock().unwrap().pop() else {
            return;
        };
        let answer = client
            .post(format!("{base}/api/v1/events/{EVENT}/checkins"))
            .bearer_auth(&door)
            .json(&serde_json::json!({"code": code, "door": "Crash test"}))
            // A killed server resets the connection; this only guards a hang.
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let Ok(response) = answer else { return };
        let Ok(body) = response.json::<serde_json::Value>().await else {
            return;
        };
        if body["status"] == "accepted" {
            told.lock().unwrap().accepted_codes.insert(code);
        }
    }
}

async fn register_until_refused(base: String, prefix: String, told: Arc<Mutex<Told>>) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for n in 0.. {
        let Ok(page) = client.get(format!("{base}/events/{EVENT}")).send().await else {
            return;
        };
        let Ok(html) = page.text().await else { return };
        let Some(token) = attr(
            &scraper::Html::parse_document(&html),
            "input[name=csrf_token]",
            "value",
        ) else {
            return;
        };
        let email = format!("{prefix}-{n}@example.org");
        let mut fields = valid_fields(&email, "offline");
        fields.push(("csrf_token", &token));
        let body = serde_html_form::to_string(&fields).unwrap();
        let Ok(response) = client
            .post(format!("{base}/events/{EVENT}/register"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
        else {
            return;
        };
        if response.status().as_u16() == 303 {
            told.lock().unwrap().registered_emails.insert(email);
        }
    }
}

/// A fresh database with the test forum, 10,000 participants (more than
/// the rounds below can scan on a fast machine) and a door
/// token: their codes and the token.
fn seeded(database: &DatabaseUrl) -> (db::Pool, Vec<String>, String) {
    let pool = db::connect(database, 2).unwrap();
    let now = db::now_ms();
    let codes: Vec<String> = {
        let mut conn = pool.get().unwrap();
        seed_test_forum(&mut conn, now);
        let mut csv = String::from("name,email,affiliation,country,mode,category,sessions\n");
        for i in 0..10_000 {
            csv.push_str(&format!(
                "Guest {i},guest{i}@example.org,Uni,DE,offline,,\n"
            ));
        }
        let event = db::events::find_event(&mut conn, EVENT).unwrap().unwrap();
        let offered: Vec<_> = db::events::sessions_of(&mut conn, event.id)
            .unwrap()
            .iter()
            .map(|s| s.as_choice())
            .collect();
        let rows = rollcall::domain::import::parse_participants(csv.as_bytes(), &offered).unwrap();
        match db::imports::import(&mut conn, event.id, &rows, now, &mut |_| {}).unwrap() {
            db::imports::ImportOutcome::Imported(people) => people
                .into_iter()
                .map(|p| p.checkin_code.as_str().to_string())
                .collect(),
            db::imports::ImportOutcome::Refused(problems) => panic!("{problems:?}"),
        }
    };
    let door = rollcall::auth::tokens::generate();
    {
        let digest = rollcall::auth::tokens::digest(&door).unwrap();
        let mut conn = pool.get().unwrap();
        let event = db::events::find_event(&mut conn, EVENT).unwrap().unwrap();
        db::tokens::create(
            &mut conn,
            &db::tokens::NewToken {
                event_id: event.id,
                label: "crash door",
                role: "door",
                token_hash: &digest,
                created_by: "test",
                session_ids: &[],
                now,
            },
        )
        .unwrap();
    }
    (pool, codes, door)
}

/// A fresh database seeded by [`seeded`], the codes left to scan, what the
/// clients were told, and where mail goes.
struct Fixture {
    _dir: tempfile::TempDir,
    database: TestDatabase,
    pool: db::Pool,
    codes: Arc<Mutex<Vec<String>>>,
    door: String,
    told: Arc<Mutex<Told>>,
    outbox: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    let (pool, codes, door) = seeded(&database);
    Fixture {
        outbox: dir.path().join("outbox"),
        _dir: dir,
        database,
        pool,
        codes: Arc::new(Mutex::new(codes)),
        door,
        told: Arc::new(Mutex::new(Told::default())),
    }
}

/// Every answered scan and registration is in the database exactly once.
fn assert_all_stored(pool: &db::Pool, told: &Told) {
    let mut conn = pool.get().unwrap();
    let counted: Vec<(String, i64)> = schema::attendance::table
        .inner_join(schema::participants::table)
        .group_by(schema::participants::checkin_code)
        .select((
            schema::participants::checkin_code,
            diesel::dsl::count_star(),
        ))
        .load(&mut conn)
        .unwrap();
    for code in &told.accepted_codes {
        let times = counted
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0, |(_, n)| *n);
        assert_eq!(times, 1, "an accepted scan is on disk exactly once");
    }
    assert!(counted.iter().all(|(_, n)| *n == 1), "nobody counted twice");
    let emails: HashSet<String> = schema::participants::table
        .select(schema::participants::email)
        .load::<String>(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    for email in &told.registered_emails {
        assert!(
            emails.contains(email),
            "a registration answered 303 is stored"
        );
    }
}

/// How many scans and registrations have been answered so far.
fn told_so_far(told: &Arc<Mutex<Told>>) -> (usize, usize) {
    let told = told.lock().unwrap();
    (told.accepted_codes.len(), told.registered_emails.len())
}

/// Waits until at least `scans` scans (or every code, when fewer are left)
/// and `registrations` registrations have been answered: the server is
/// stopped only with work under way, on a fast machine or a loaded CI
/// runner alike.
async fn wait_for_answers(
    told: &Arc<Mutex<Told>>,
    codes: &Arc<Mutex<Vec<String>>>,
    scans: usize,
    registrations: usize,
) {
    let waiting_for = || {
        let (scanned, registered) = told_so_far(told);
        format!(
            "the clients got answers: {scanned} of {scans} scans, \
             {registered} of {registrations} registrations"
        )
    };
    eventually(Duration::from_secs(60), waiting_for, || {
        let (scanned, registered) = told_so_far(told);
        // Registering goes on for as long as the server answers; scanning
        // stops when the codes run out, which a fast machine reaches.
        let scanned_enough = scanned >= scans || codes.lock().unwrap().is_empty();
        (scanned_enough && registered >= registrations).then_some(())
    })
    .await;
}

/// Door scanners and registering browsers against `server`, each going on
/// until the server stops answering.
fn start_clients(
    server: &ServerProcess,
    doors: usize,
    browsers: usize,
    label: &str,
    door: &str,
    codes: &Arc<Mutex<Vec<String>>>,
    told: &Arc<Mutex<Told>>,
) -> Vec<actix_web::rt::task::JoinHandle<()>> {
    let scanners = (0..doors).map(|_| {
        actix_web::rt::spawn(scan_until_refused(
            server.base.clone(),
            door.to_string(),
            codes.clone(),
            told.clone(),
        ))
    });
    let registrants = (0..browsers).map(|n| {
        actix_web::rt::spawn(register_until_refused(
            server.base.clone(),
            format!("{label}-client{n}"),
            told.clone(),
        ))
    });
    scanners.chain(registrants).collect()
}

#[actix_web::test]
async fn nothing_answered_is_lost_when_the_server_is_killed() {
    let Fixture {
        _dir,
        database,
        pool,
        codes,
        door,
        told,
        outbox,
    } = fixture();
    for round in 0..4u64 {
        let server = ServerProcess::start(&database, &outbox);
        let clients = start_clients(
            &server,
            16,
            2,
            &format!("round{round}"),
            &door,
            &codes,
            &told,
        );
        // Mid-stream, however slow the machine: once this round has had
        // answers, then a different moment in each round.
        let (scans, registrations) = told_so_far(&told);
        wait_for_answers(&told, &codes, scans + 20, registrations + 1).await;
        tokio::time::sleep(Duration::from_millis(170 * round)).await;
        server.kill();
        for client in clients {
            let _ = client.await;
        }
    }

    let told = std::mem::take(&mut *told.lock().unwrap());
    assert_all_stored(&pool, &told);
}

#[actix_web::test]
async fn sigterm_stops_cleanly_with_every_answer_stored() {
    let Fixture {
        _dir,
        database,
        pool,
        codes,
        door,
        told,
        outbox,
    } = fixture();
    let server = ServerProcess::start(&database, &outbox);
    let clients = start_clients(&server, 12, 2, "term", &door, &codes, &told);
    wait_for_answers(&told, &codes, 50, 1).await;
    let status = actix_web::rt::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status}");
    for client in clients {
        let _ = client.await;
    }
    let told = std::mem::take(&mut *told.lock().unwrap());
    assert_all_stored(&pool, &told);
    // Each registration's confirmation went out before the process ended.
    let mails = std::fs::read_dir(&outbox).map_or(0, |d| d.count());
    assert!(
        mails >= told.registered_emails.len() && !told.registered_emails.is_empty(),
        "{mails} mails for {} registrations",
        told.registered_emails.len()
    );
}
