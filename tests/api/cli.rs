//! The binary as an operator runs it.

use crate::helpers::fresh_database;
use diesel::prelude::*;
use rollcall::db::{self, schema, DatabaseUrl};
use std::process::Command;

fn rollcall(database: &DatabaseUrl, args: &[&str]) -> std::process::Output {
    let url = database.as_str();
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .env("ROLLCALL_DATABASE_URL", url)
        .env("ROLLCALL_LOG", "warn")
        .output()
        .expect("run the rollcall binary")
}

#[test]
fn migrate_prepares_an_empty_database_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    for _ in 0..2 {
        let out = rollcall(&database, &["migrate"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    }
    let pool = db::connect(&database, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let events: i64 = schema::events::table.count().get_result(&mut conn).unwrap();
    let attendance: i64 = schema::attendance::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((events, attendance), (0, 0));
}

#[test]
fn demo_loads_the_forum_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    let first = rollcall(&database, &["demo"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("Loaded the demo event zgc-forum-2021"));

    let pool = db::connect(&database, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let counts = |conn: &mut db::DbConnection| -> (i64, i64, i64) {
        (
            schema::participants::table
                .count()
                .get_result(conn)
                .unwrap(),
            schema::attendance::table.count().get_result(conn).unwrap(),
            schema::agenda_sessions::table
                .count()
                .get_result(conn)
                .unwrap(),
        )
    };
    let before = counts(&mut conn);
    let names: Vec<String> = schema::participants::table
        .select(schema::participants::full_name)
        .load(&mut conn)
        .unwrap();
    let distinct: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(
        distinct.len(),
        names.len(),
        "no two invented people share a name"
    );
    // Addresses spell the whole name: "Kamińska" is "kaminska", not "kamiska".
    let people: Vec<(String, String)> = schema::participants::table
        .select((schema::participants::full_name, schema::participants::email))
        .load(&mut conn)
        .unwrap();
    for (name, email) in &people {
        let local = email.split('@').next().unwrap();
        assert_eq!(
            local.chars().filter(char::is_ascii_alphabetic).count(),
            name.chars().filter(|c| c.is_alphabetic()).count(),
            "{name}: {email}"
        );
    }

    let second = rollcall(&database, &["demo"]);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already loaded"));
    assert_eq!(
        counts(&mut conn),
        before,
        "running demo twice changes nothing"
    );

    // The forum's shape: four sessions, about a hundred in person, twelve
    // representatives, online participants from seven countries.
    use schema::participants::dsl as p;
    assert_eq!(before.2, 4);
    let in_person: i64 = p::participants
        .filter(p::mode.eq("offline"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!((95..=110).contains(&in_person), "{in_person} in person");
    let reps: i64 = p::participants
        .filter(p::category.eq("member_representative"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(reps, 12);
    let mut online_countries: Vec<String> = p::participants
        .filter(p::mode.eq("online"))
        .select(p::country)
        .distinct()
        .load(&mut conn)
        .unwrap();
    online_countries.sort();
    assert_eq!(online_countries, ["CH", "DE", "ES", "GB", "NL", "PL", "SE"]);
    assert!(before.1 > 50, "some participants are already checked in");
}

fn rollcall_with_stdin(database: &DatabaseUrl, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let url = database.as_str();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .env("ROLLCALL_DATABASE_URL", url)
        .env("ROLLCALL_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn staff_accounts_and_tokens_are_made_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    assert!(rollcall(&database, &["demo"]).status.success());

    let add = rollcall_with_stdin(
        &database,
        &[
            "user",
            "add",
            "--username",
            "olga",
            "--role",
            "organiser",
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let taken = rollcall_with_stdin(
        &database,
        &[
            "user",
            "add",
            "--username",
            "olga",
            "--role",
            "door",
            "--password-stdin",
        ],
        "another long password\n",
    );
    assert!(!taken.status.success());
    let short = rollcall_with_stdin(
        &database,
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--role",
            "door",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10"));
    let passwd = rollcall_with_stdin(
        &database,
        &["user", "passwd", "olga", "--password-stdin"],
        "a different long password\n",
    );
    assert!(passwd.status.success());

    let list = rollcall(&database, &["user", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "olga\torganiser"
    );

    let pool = db::connect(&database, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let stored = db::staff::find_by_username(&mut conn, "olga")
        .unwrap()
        .unwrap();
    assert!(rollcall::auth::password::verify(
        "a different long password",
        &stored.password_hash
    ));
    assert!(stored.password_hash.starts_with("$argon2id$"));

    let token = rollcall(
        &database,
        &[
            "token",
            "create",
            "--event",
            "zgc-forum-2021",
            "--label",
            "North door",
            "--role",
            "door",
            "--session",
            "opening-ceremony",
        ],
    );
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let stdout = String::from_utf8_lossy(&token.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("rc_") && last.len() == 46,
        "the token alone on the last line: {last:?}"
    );
    let digest = rollcall::auth::tokens::digest(last).unwrap();
    let (found, sessions) = db::tokens::authenticate(&mut conn, &digest, db::now_ms())
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.label.as_str(), found.role.as_str(), sessions.len()),
        ("North door", "door", 1)
    );

    let bad = rollcall(
        &database,
        &[
            "token", "create", "--event", "nope", "--label", "x", "--role", "door",
        ],
    );
    assert!(!bad.status.success());
}

#[test]
fn the_demo_admin_is_created_once_with_a_random_password() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    let pool = db::connect(&database, 1).unwrap();
    let mut conn = pool.get().unwrap();
    let first = rollcall::demo::ensure_admin(&mut conn)
        .unwrap()
        .expect("a password the first time");
    assert!(first.len() >= 16);
    assert_eq!(
        rollcall::demo::ensure_admin(&mut conn).unwrap(),
        None,
        "printed once only"
    );
    let admin = db::staff::find_by_username(&mut conn, "admin")
        .unwrap()
        .unwrap();
    assert!(rollcall::auth::password::verify(
        &first,
        &admin.password_hash
    ));
}

/// The README's first command, run twice on one database: the first start
/// prints the admin's password, the second says how to set a new one (it
/// can't print the old one, which is stored only as a hash).
#[test]
fn serve_demo_says_how_to_sign_in_each_time_it_starts() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    let url = database.as_str();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--outbox"])
            .arg(dir.path().join("outbox"))
            .env("ROLLCALL_DATABASE_URL", url)
            .env("ROLLCALL_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start rollcall serve --demo");
        // Read on a thread of its own, so a server that never says it is
        // listening fails the test after a minute instead of hanging it.
        let stdout = child.stdout.take().unwrap();
        let (lines, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut said = Vec::new();
        while let Ok(line) =
            heard.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            let listening = line.starts_with("Rollcall is listening on");
            said.push(line);
            if listening {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        said.join("\n")
    };

    let first = start();
    let password = first
        .lines()
        .find_map(|l| l.strip_prefix("Admin sign-in (shown once): username admin, password "))
        .unwrap_or_else(|| panic!("no password in:\n{first}"))
        .to_string();
    assert!(first.contains("Demo event: http://127.0.0.1:"), "{first}");

    let second = start();
    assert!(second.contains("already loaded"), "{second}");
    assert!(
        second.contains("Admin sign-in: username admin")
            && second.contains("rollcall user passwd admin --password-stdin"),
        "{second}"
    );
    assert!(
        !second.contains(&password),
        "the password is shown once only"
    );
}
