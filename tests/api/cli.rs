//! The binary as an operator runs it.

use crate::helpers::fresh_database;
use diesel::prelude::*;
use rollcall::db::{self, schema, DatabaseUrl};
use std::process::Command;

fn rollcall(database: &DatabaseUrl, args: &[&str]) -> std::process::Output {
    let url = match database {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
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
