use crate::helpers::*;
use serde_json::{json, Value};

/// Two in person (one scanned), one online (joined), one cancelled.
async fn fixture() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("bo@example.org", "offline", &["keynote"])
        .await;
    let cy = app
        .register_ok("cy@example.org", "online", &["keynote"])
        .await;
    let dee = app
        .register_ok("dee@example.org", "online", &["webinar"])
        .await;
    app.cancel_registration(&dee).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.scan(&door, json!({"code": app.code_of("ada@example.org").await, "session": "keynote", "door": "North"})).await;
    app.get(&format!("{cy}/join/keynote")).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    (app, organiser)
}

async fn csv_of(app: &TestApp, token: &str, name: &str) -> Vec<csv::StringRecord> {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events/{EVENT}/{name}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{name}");
    assert!(response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let bytes = response.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "{name} starts with a BOM"
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[3..]);
    reader.records().map(|r| r.unwrap()).collect()
}

#[actix_web::test]
async fn the_report_shows_totals_no_shows_and_breakdowns() {
    let (app, _) = fixture().await;
    app.create_staff("olga", "organiser", None).await;
    app.login("olga", PASSWORD).await;
    let (status, page) = app.get_html(&format!("/admin/events/{EVENT}/report")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#attended-total"), "2");
    assert_eq!(text(&page, "#attended-offline"), "1");
    assert_eq!(text(&page, "#attended-online"), "1");
    assert_eq!(text(&page, "#registered-total"), "3");
    let totals = text(&page, "#totals");
    assert!(totals.contains("No-shows"));
    assert!(text(&page, "#countries").contains("United Kingdom"));
    assert!(text(&page, "#sessions").contains("Keynote"));
    assert!(text(&page, "#categories").contains("Delegate"));
    assert!(
        count(&page, ".timeline svg rect") >= 1,
        "arrivals over time are drawn"
    );
    assert!(
        count(&page, "script") == 0,
        "the report needs no JavaScript"
    );
}

#[actix_web::test]
async fn csv_exports_parse_back_and_agree_with_the_stats() {
    let (app, organiser) = fixture().await;
    let participants = csv_of(&app, &organiser, "participants.csv").await;
    let header: Vec<&str> = participants[0].iter().collect();
    assert_eq!(
        &header[..8],
        &[
            "name",
            "email",
            "affiliation",
            "country",
            "mode",
            "category",
            "status",
            "checkin_code"
        ]
    );
    assert!(header.contains(&"keynote") && header.contains(&"webinar"));
    assert_eq!(participants.len(), 5, "a header and four people");
    let keynote = header.iter().position(|h| *h == "keynote").unwrap();
    let by_email = |email: &str| {
        participants
            .iter()
            .find(|r| &r[1] == email)
            .unwrap()
            .clone()
    };
    assert_eq!(&by_email("ada@example.org")[keynote], "in person");
    assert_eq!(&by_email("cy@example.org")[keynote], "online");
    assert_eq!(&by_email("bo@example.org")[keynote], "absent");
    assert_eq!(&by_email("dee@example.org")[6], "cancelled");
    assert_eq!(
        by_email("ada@example.org")[7].to_string(),
        app.code_of("ada@example.org").await
    );

    let attendance = csv_of(&app, &organiser, "attendance.csv").await;
    assert_eq!(attendance.len(), 3);
    assert_eq!(&attendance[1][3], "keynote");

    let stats: Value = app.stats(&organiser).await;
    let countries = csv_of(&app, &organiser, "countries.csv").await;
    for (row, country) in countries[1..]
        .iter()
        .zip(stats["by_country"].as_array().unwrap())
    {
        assert_eq!(&row[0], country["code"].as_str().unwrap());
        assert_eq!(
            row[2].parse::<i64>().unwrap(),
            country["registered"].as_i64().unwrap()
        );
        assert_eq!(
            row[3].parse::<i64>().unwrap(),
            country["attended_offline"].as_i64().unwrap()
        );
        assert_eq!(
            row[4].parse::<i64>().unwrap(),
            country["attended_online"].as_i64().unwrap()
        );
    }
    let sessions = csv_of(&app, &organiser, "sessions.csv").await;
    for (row, session) in sessions[1..]
        .iter()
        .zip(stats["by_session"].as_array().unwrap())
    {
        assert_eq!(&row[0], session["slug"].as_str().unwrap());
        assert_eq!(
            row[5].parse::<i64>().unwrap(),
            session["in_person"].as_i64().unwrap()
        );
        assert_eq!(
            row[8].parse::<i64>().unwrap(),
            session["online"].as_i64().unwrap()
        );
    }
    let total: i64 = countries[1..]
        .iter()
        .map(|r| r[5].parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        total,
        stats["attended"]["total"].as_i64().unwrap(),
        "the CSV summary and the stats agree"
    );
}

#[actix_web::test]
async fn cells_that_look_like_formulas_are_neutralised() {
    let app = TestApp::spawn().await;
    let mut fields = valid_fields("eve@example.org", "offline");
    fields[0] = ("full_name", "=HYPERLINK(\"http://evil\")");
    fields[2] = ("affiliation", "@SUM(1+1)");
    assert_eq!(app.register(&fields).await.status().as_u16(), 303);
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let participants = csv_of(&app, &organiser, "participants.csv").await;
    assert_eq!(&participants[1][0], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(&participants[1][2], "'@SUM(1+1)");
}

#[actix_web::test]
async fn exports_need_an_organiser() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    for token in [&door, &screen] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/events/{EVENT}/participants.csv")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(
        app.get(&format!("/api/v1/events/{EVENT}/participants.csv"))
            .await
            .status()
            .as_u16(),
        401
    );
}

#[actix_web::test]
async fn the_report_page_opens_with_an_organiser_token_and_no_other() {
    let (app, organiser) = fixture().await;
    let page = |token: String| {
        app.client
            .get(app.url(&format!("/admin/events/{EVENT}/report")))
            .bearer_auth(token)
            .send()
    };
    let response = page(organiser).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "#attended-total"), "2");
    for role in ["door", "dashboard"] {
        let token = app.create_token(EVENT, role, &[]).await;
        assert_eq!(page(token).await.unwrap().status().as_u16(), 403, "{role}");
    }
    let response = page("rc_not-a-real-token".into()).await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

/// The forum's event id, for the statements below.
fn forum_id(conn: &mut rollcall::db::DbConnection) -> Result<i32, rollcall::db::DbError> {
    let forum = rollcall::db::events::find_event(conn, EVENT)?;
    Ok(forum.expect("the test app has the forum").id)
}

/// The numbers kept as changes (the report's participant grid: counters
/// kept by triggers on SQLite, changes per cell recorded by triggers and
/// summed on PostgreSQL; the session counts and the arrivals per minute:
/// changes on PostgreSQL) against a recount from the records themselves,
/// after each kind of write that can change them, and again once their
/// changes are folded; `attended` is what the grid then says, as (in
/// person, online only, not at all).
async fn counts_agree(app: &TestApp, step: &str, attended: (i64, i64, i64)) {
    use diesel::prelude::*;
    use rollcall::db::stats::{
        arrivals, fold_changes, participant_grid, session_counts, GridRow, SessionCount,
    };
    #[derive(QueryableByName)]
    struct Minute {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        minute: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    type Arrivals = Vec<(String, i64)>;
    type Counts = (Vec<GridRow>, Vec<SessionCount>, Arrivals);
    let (mut kept, mut folded, mut recount): (Counts, Counts, Counts) = app
        .db(|conn| {
            let event_id = forum_id(conn)?;
            let now = rollcall::db::now_ms();
            let arrived =
                |conn: &mut rollcall::db::DbConnection| -> Result<Arrivals, rollcall::db::DbError> {
                    Ok(arrivals(conn, event_id, now)?
                        .into_iter()
                        .filter(|m| m.count != 0)
                        .map(|m| (m.minute, m.count))
                        .collect())
                };
            let read =
                |conn: &mut rollcall::db::DbConnection| -> Result<Counts, rollcall::db::DbError> {
                    Ok((
                        participant_grid(conn, event_id)?,
                        session_counts(conn, event_id)?,
                        arrived(conn)?,
                    ))
                };
            let kept = read(conn)?;
            fold_changes(conn, event_id)?;
            let folded = read(conn)?;
            let grid: Vec<GridRow> = diesel::sql_query(format!(
                "SELECT country, mode, category, status, attended, COUNT(*) AS n FROM ( \
                   SELECT p.country, p.mode, p.category, p.status, \
                     COALESCE((SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) \
                               FROM attendance a \
                               WHERE a.participant_id = p.id AND a.counted), -1) AS attended \
                   FROM participants p WHERE p.event_id = {event_id}) people \
                 GROUP BY country, mode, category, status, attended"
            ))
            .load(conn)?;
            let sessions: Vec<SessionCount> = diesel::sql_query(format!(
                "SELECT session_id, mode, counted, COUNT(*) AS n FROM attendance \
                 WHERE event_id = {event_id} AND session_id IS NOT NULL \
                 GROUP BY session_id, mode, counted"
            ))
            .load(conn)?;
            let hour_starts = (now / 60_000 - 59) * 60_000;
            let minutes: Vec<Minute> = diesel::sql_query(format!(
                "SELECT recorded_at / 60000 AS minute, COUNT(*) AS n FROM attendance \
                 WHERE event_id = {event_id} AND recorded_at >= {hour_starts} \
                   AND recorded_at <= {now} \
                 GROUP BY recorded_at / 60000"
            ))
            .load(conn)?;
            let minutes = minutes
                .into_iter()
                .map(|m| (rollcall::timefmt::rfc3339(m.minute * 60_000), m.n))
                .collect();
            Ok((kept, folded, (grid, sessions, minutes)))
        })
        .await;
    for counts in [&mut kept, &mut folded, &mut recount] {
        counts.0.sort();
        counts.1.sort();
        counts.2.sort();
    }
    assert_eq!(kept.0, recount.0, "grid after {step}");
    assert_eq!(folded.0, recount.0, "grid after {step}, folded");
    assert_eq!(kept.1, recount.1, "sessions after {step}");
    assert_eq!(folded.1, recount.1, "sessions after {step}, folded");
    assert_eq!(kept.2, recount.2, "arrivals after {step}");
    assert_eq!(folded.2, recount.2, "arrivals after {step}, folded");
    let total = |value: i32| {
        recount
            .0
            .iter()
            .filter(|r| r.attended == value)
            .map(|r| r.n)
            .sum()
    };
    assert_eq!((total(1), total(0), total(-1)), attended, "after {step}");
}

async fn set_webinar_minimum(app: &TestApp, minutes: i32) {
    run_sql(
        app,
        &format!(
            "UPDATE agenda_sessions SET online_min_minutes = {minutes} WHERE slug = 'webinar'"
        ),
    )
    .await;
}

async fn run_sql(app: &TestApp, sql: &str) {
    if let Err(refused) = try_sql(app, sql.to_string()).await {
        panic!("{sql}: {refused}");
    }
}

/// How the database answers `sql`: the number of rows it changed, or the
/// kind of error that refused it.
async fn try_sql(app: &TestApp, sql: String) -> Result<usize, String> {
    app.db(move |conn| {
        use diesel::RunQueryDsl;
        Ok(diesel::sql_query(sql).execute(conn).map_err(|e| match e {
            diesel::result::Error::DatabaseError(kind, _) => format!("{kind:?}"),
            other => other.to_string(),
        }))
    })
    .await
}

#[actix_web::test]
async fn the_counts_kept_as_changes_agree_with_a_recount_through_every_kind_of_change() {
    let app = TestApp::spawn().await;
    app.open_all_doors().await;
    app.lift_capacities().await;
    // The webinar's stream opens with the keynote's, so both can be joined now.
    run_sql(
        &app,
        "UPDATE agenda_sessions SET starts_at = k.starts_at, ends_at = k.ends_at \
         FROM (SELECT starts_at, ends_at FROM agenda_sessions WHERE slug = 'keynote') k \
         WHERE slug = 'webinar'",
    )
    .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let modes = ["offline", "offline", "online", "online", "offline"];
    let mut people = Vec::new();
    for (i, mode) in modes.iter().enumerate() {
        let email = format!("g{i}@example.org");
        let page = app.register_ok(&email, mode, &["keynote", "webinar"]).await;
        let code = app.code_of(&email).await;
        let id = app.participant_id(&code).await.unwrap();
        people.push((code, page, id));
    }
    counts_agree(&app, "registering", (0, 0, 5)).await;

    let scan = |who: usize, session: Option<&str>| {
        let mut body = json!({"code": people[who].0, "door": "North"});
        if let Some(session) = session {
            body["session"] = json!(session);
        }
        let door = door.clone();
        let app = &app;
        async move {
            let (status, answer) = app.scan(&door, body).await;
            assert_eq!(
                (status, answer["status"].as_str()),
                (200, Some("accepted")),
                "{answer}"
            );
        }
    };
    scan(0, Some("keynote")).await;
    scan(0, Some("webinar")).await;
    counts_agree(&app, "two scans of one person", (1, 0, 4)).await;

    app.get(&format!("{}/join/keynote", people[2].1)).await;
    counts_agree(&app, "an online join", (1, 1, 3)).await;

    set_webinar_minimum(&app, 10).await;
    app.get(&format!("{}/join/webinar", people[3].1)).await;
    counts_agree(&app, "a join short of the minimum", (1, 1, 3)).await;
    let g3 = people[3].2;
    run_sql(
        &app,
        &format!(
        "INSERT INTO watching (participant_id, session_id, event_id, seconds_watched, last_seen) \
         SELECT {g3}, id, event_id, 700, 0 FROM agenda_sessions WHERE slug = 'webinar'"
    ),
    )
    .await;
    counts_agree(&app, "enough minutes watched", (1, 2, 2)).await;
    set_webinar_minimum(&app, 20).await;
    counts_agree(&app, "the minimum raised", (1, 1, 3)).await;

    scan(2, Some("keynote")).await;
    counts_agree(&app, "an online record turned in person", (2, 0, 3)).await;
    let g2 = people[2].2;
    run_sql(
        &app,
        &format!(
            "UPDATE attendance SET recorded_at = recorded_at - 600000 WHERE participant_id = {g2}"
        ),
    )
    .await;
    counts_agree(&app, "records moved ten minutes back", (2, 0, 3)).await;

    let g0 = people[0].2;
    run_sql(&app, &format!(
        "UPDATE participants SET country = 'FR', mode = 'online', category = 'speaker' WHERE id = {g0}"
    ))
    .await;
    counts_agree(&app, "an attended person edited", (2, 0, 3)).await;
    run_sql(
        &app,
        &format!(
            "DELETE FROM attendance WHERE participant_id = {g0} AND session_id = \
         (SELECT id FROM agenda_sessions WHERE slug = 'keynote')"
        ),
    )
    .await;
    counts_agree(&app, "one of two records undone", (2, 0, 3)).await;
    run_sql(
        &app,
        &format!("DELETE FROM attendance WHERE participant_id = {g0}"),
    )
    .await;
    counts_agree(&app, "the last record undone", (1, 0, 4)).await;

    scan(1, None).await;
    app.cancel_registration(&people[1].1).await;
    counts_agree(&app, "an attended person cancelled", (2, 0, 3)).await;

    set_webinar_minimum(&app, 0).await;
    counts_agree(&app, "the minimum lowered", (2, 1, 2)).await;
    run_sql(&app, "DELETE FROM agenda_sessions WHERE slug = 'webinar'").await;
    counts_agree(&app, "a session deleted", (2, 0, 3)).await;
    run_sql(&app, &format!("DELETE FROM participants WHERE id = {g2}")).await;
    counts_agree(&app, "an attended person deleted", (1, 0, 3)).await;
    // The event's counts go with it, and its records' deletion leaves none.
    let forum = app.db(forum_id).await;
    run_sql(&app, &format!("DELETE FROM events WHERE id = {forum}")).await;
    let left: i64 = app
        .db(move |conn| {
            use diesel::prelude::*;
            let sql = match conn {
                rollcall::db::DbConnection::Postgresql(_) => format!(
                    "SELECT (SELECT COUNT(*) FROM participant_grid_changes WHERE event_id = {forum}) \
                          + (SELECT COUNT(*) FROM session_count_changes WHERE event_id = {forum}) \
                          + (SELECT COUNT(*) FROM arrival_changes WHERE event_id = {forum})"
                ),
                rollcall::db::DbConnection::Sqlite(_) => {
                    format!("SELECT COUNT(*) FROM participant_grid WHERE event_id = {forum}")
                }
            };
            Ok(diesel::dsl::sql::<diesel::sql_types::BigInt>(&sql).get_result(conn)?)
        })
        .await;
    assert_eq!(left, 0, "counts left behind by the deleted event");
}

async fn records_of(app: &TestApp, condition: String) -> i64 {
    app.db(move |conn| {
        use diesel::prelude::*;
        Ok(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "SELECT COUNT(*) FROM attendance WHERE {condition}"
        ))
        .get_result(conn)?)
    })
    .await
}

/// The database itself keeps every record tied to a person and a session
/// that exist (its foreign keys, on both backends): a statement naming
/// someone or some session that isn't there is refused whole, and
/// deleting a person or a session deletes their records.
#[actix_web::test]
async fn records_name_people_and_sessions_that_exist_and_go_with_them() {
    let app = TestApp::spawn().await;
    app.open_all_doors().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let mut people = Vec::new();
    for email in ["k0@example.org", "k1@example.org"] {
        app.register_ok(email, "offline", &["keynote"]).await;
        let code = app.code_of(email).await;
        let (status, answer) = app
            .scan(
                &door,
                json!({"code": code, "door": "North", "session": "keynote"}),
            )
            .await;
        assert_eq!(answer["status"], "accepted", "{status} {answer}");
        people.push(app.participant_id(&code).await.unwrap());
    }
    let forum = app.db(forum_id).await;
    let (k0, k1) = (people[0], people[1]);
    let record = |person: i32, session: &str| {
        format!("({forum}, {person}, {session}, 'offline', 'manual', 0)")
    };
    let insert = |rows: Vec<String>| {
        format!(
            "INSERT INTO attendance (event_id, participant_id, session_id, mode, source, recorded_at) \
             VALUES {}",
            rows.join(", ")
        )
    };
    let tour =
        format!("(SELECT id FROM agenda_sessions WHERE event_id = {forum} AND slug = 'lab-tour')");

    // k0 on the lab tour is a good record; beside a stranger or a session
    // that doesn't exist, the statement is refused whole.
    for bad in [record(999_999, &tour), record(k1, "999999")] {
        let answer = try_sql(&app, insert(vec![record(k0, &tour), bad.clone()])).await;
        assert_eq!(answer, Err("ForeignKeyViolation".to_string()), "{bad}");
    }
    assert_eq!(records_of(&app, format!("participant_id = {k0}")).await, 1);
    assert_eq!(try_sql(&app, insert(vec![record(k0, &tour)])).await, Ok(1));

    run_sql(&app, &format!("DELETE FROM participants WHERE id = {k0}")).await;
    assert_eq!(records_of(&app, format!("participant_id = {k0}")).await, 0);
    assert_eq!(records_of(&app, format!("participant_id = {k1}")).await, 1);

    run_sql(
        &app,
        &format!("DELETE FROM agenda_sessions WHERE event_id = {forum} AND slug = 'keynote'"),
    )
    .await;
    assert_eq!(records_of(&app, format!("participant_id = {k1}")).await, 0);
}

/// A fold of the grid's changes while another connection's change is not
/// yet committed leaves that change for later: once committed it counts.
#[actix_web::test]
async fn a_grid_change_committed_after_a_fold_still_counts() {
    let app = TestApp::spawn().await;
    app.register_ok("late@example.org", "offline", &["keynote"])
        .await;
    let pool = app.pool.clone();
    let unfolded_after_fold: i64 = app
        .db(move |editor| {
            use diesel::connection::SimpleConnection;
            use diesel::prelude::*;
            let mut other = pool.get()?;
            let event_id = forum_id(&mut other)?;
            editor.batch_execute(
                "BEGIN; UPDATE participants SET country = 'FR' WHERE email = 'late@example.org'",
            )?;
            // The registration's change, not yet folded, makes this fold
            // run while the edit's is not committed.
            let folding = rollcall::db::stats::fold_changes(&mut other, event_id);
            let unfolded = match &mut *other {
                rollcall::db::DbConnection::Postgresql(_) => {
                    diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                        "SELECT COUNT(*) FROM participant_grid_changes \
                     WHERE event_id = {event_id} AND NOT folded"
                    ))
                    .get_result(&mut *other)?
                }
                rollcall::db::DbConnection::Sqlite(_) => 0,
            };
            editor.batch_execute("COMMIT")?;
            folding.map(|()| unfolded)
        })
        .await;
    assert_eq!(unfolded_after_fold, 0, "the fold ran");
    counts_agree(&app, "an edit committed after a fold", (0, 0, 1)).await;
    let countries: Vec<String> = app
        .db(|conn| {
            use rollcall::db::stats::participant_grid;
            let event_id = forum_id(conn)?;
            Ok(participant_grid(conn, event_id)?
                .into_iter()
                .map(|row| row.country)
                .collect())
        })
        .await;
    assert_eq!(countries, ["FR"]);
}
