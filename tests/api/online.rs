use crate::helpers::*;
use diesel::prelude::*;
use futures_util::StreamExt;
use rollcall::db::schema::{agenda_sessions, attendance, watching};
use serde_json::{json, Value};
use std::time::Duration;

async fn online_records(app: &TestApp) -> Vec<(String, String)> {
    app.db(|conn| {
        Ok(attendance::table
            .select((attendance::mode, attendance::source))
            .load(conn)?)
    })
    .await
}

async fn session_stats(app: &TestApp, token: &str, slug: &str) -> Value {
    let stats = app.stats(token).await;
    stats["by_session"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == slug)
        .unwrap()
        .clone()
}

/// Polls the stats API until `check` holds for the session, or panics.
async fn wait_for_session(
    app: &TestApp,
    token: &str,
    slug: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = session_stats(app, token, slug).await;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{slug}: never {what}; last {last}");
}

#[actix_web::test]
async fn joining_inside_the_window_counts_once_and_goes_to_the_stream() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    for _ in 0..2 {
        let response = app.get(&format!("{personal}/join/keynote")).await;
        assert_eq!(response.status().as_u16(), 303);
        assert_eq!(location(&response), "https://stream.example.org/test");
    }
    assert_eq!(
        online_records(&app).await,
        vec![("online".to_string(), "join_link".to_string())]
    );

    // The personal page offers the join link.
    let (_, page) = app.get_html(&personal).await;
    assert_eq!(
        attr(&page, ".join-links a", "href"),
        Some(format!("{personal}/join/keynote"))
    );
}

#[actix_web::test]
async fn an_in_person_registrant_may_join_online_and_is_counted_online_there() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    assert_eq!(
        app.get(&format!("{personal}/join/keynote"))
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(online_records(&app).await[0].0, "online");
    // Walking in later moves them to the room (one record per session).
    let door = app.create_token(EVENT, "door", &[]).await;
    let (_, answer) = app
        .scan(
            &door,
            json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(answer["status"], "accepted");
    assert_eq!(
        online_records(&app).await,
        vec![("offline".to_string(), "door_scan".to_string())]
    );
}

#[actix_web::test]
async fn outside_the_window_the_page_says_when_it_opens_and_records_nothing() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "online", &["webinar"])
        .await;
    let (status, page) = app.get_html(&format!("{personal}/join/webinar")).await;
    assert_eq!(status, 200);
    assert!(text(&page, "h1").contains("Not open yet"));
    assert!(
        text(&page, "main").contains("Europe/Berlin"),
        "the event's time zone"
    );
    assert!(
        attr(&page, "time.local-time", "datetime").is_some(),
        "and the viewer's, by script"
    );
    assert!(online_records(&app).await.is_empty());
}

#[actix_web::test]
async fn not_registered_cancelled_and_unknown_joins_record_nothing() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "online", &["webinar"])
        .await;
    let (status, page) = app.get_html(&format!("{personal}/join/keynote")).await;
    assert_eq!(status, 403);
    assert!(text(&page, "h1").contains("Not registered"));
    assert_eq!(
        app.get(&format!("{personal}/join/no-such-session"))
            .await
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        app.get("/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/join/keynote")
            .await
            .status()
            .as_u16(),
        404
    );

    let other = app
        .register_ok("bo@example.org", "online", &["keynote"])
        .await;
    app.cancel_registration(&other).await;
    let (status, page) = app.get_html(&format!("{other}/join/keynote")).await;
    assert_eq!(status, 403);
    assert!(text(&page, "h1").contains("cancelled"));
    assert!(online_records(&app).await.is_empty());
}

#[actix_web::test]
async fn watching_now_counts_people_not_tabs_and_drops_when_they_leave() {
    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let ada = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    let bo = app
        .register_ok("bo@example.org", "online", &["keynote"])
        .await;
    let (status, page) = app.get_html(&format!("{ada}/watch/keynote")).await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&page, "a.primary", "href").as_deref(),
        Some("https://stream.example.org/test")
    );

    let tab1 = watch(&app, &ada, "keynote").await;
    let tab2 = watch(&app, &ada, "keynote").await;
    wait_for_session(&app, &screen, "keynote", "1 watching", |s| {
        s["watching_now"] == 1
    })
    .await;
    let bo_tab = watch(&app, &bo, "keynote").await;
    wait_for_session(&app, &screen, "keynote", "2 watching", |s| {
        s["watching_now"] == 2
    })
    .await;

    drop(tab1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        session_stats(&app, &screen, "keynote").await["watching_now"],
        2,
        "Ada still has a tab open"
    );
    drop(tab2);
    wait_for_session(&app, &screen, "keynote", "Ada counted out", |s| {
        s["watching_now"] == 1
    })
    .await;

    // Bo's client vanishes without closing (no pongs, no messages): counted
    // out by the heartbeat within half a minute.
    std::mem::forget(bo_tab);
    wait_for_session(&app, &screen, "keynote", "Bo counted out", |s| {
        s["watching_now"] == 0
    })
    .await;

    // Someone not registered for the session can't open a presence socket.
    let other = app
        .register_ok("cy@example.org", "online", &["webinar"])
        .await;
    let token = other.trim_start_matches("/r/");
    let refused = awc::Client::new()
        .ws(app.url(&format!("/ws/watch/{token}/keynote")))
        .connect()
        .await;
    assert!(
        matches!(refused, Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s.as_u16() == 403)
    );
}

#[actix_web::test]
async fn minutes_watched_are_accounted_while_the_page_is_open() {
    let app = TestApp::spawn().await;
    let ada = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    let mut tab = watch(&app, &ada, "keynote").await;
    let mut seconds = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        // Answer pings as a browser does.
        if let Ok(Some(Ok(awc::ws::Frame::Ping(bytes)))) =
            tokio::time::timeout(Duration::from_millis(50), tab.next()).await
        {
            use futures_util::SinkExt;
            tab.send(awc::ws::Message::Pong(bytes)).await.unwrap();
        }
        seconds = app
            .db(|conn| {
                Ok(watching::table
                    .select(watching::seconds_watched)
                    .first::<i64>(conn)
                    .optional()?)
            })
            .await
            .unwrap_or(0);
        if seconds >= 5 {
            break;
        }
    }
    assert!(
        seconds >= 5,
        "watched time is written every few seconds: {seconds}"
    );
}

#[actix_web::test]
async fn the_minimum_minutes_rule_separates_joined_from_attended() {
    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let ada = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    app.db(|conn| {
        Ok(
            diesel::update(agenda_sessions::table.filter(agenda_sessions::slug.eq("keynote")))
                .set(agenda_sessions::online_min_minutes.eq(10))
                .execute(conn)?,
        )
    })
    .await;
    app.get(&format!("{ada}/join/keynote")).await;
    let keynote = session_stats(&app, &screen, "keynote").await;
    assert_eq!(
        (
            keynote["online_joined"].as_i64(),
            keynote["online"].as_i64()
        ),
        (Some(1), Some(0))
    );
    let stats: Value = app.stats(&screen).await;
    assert_eq!(stats["attended"]["total"], 0, "joined, not yet attended");

    let participant = app
        .participant_id(&app.code_of("ada@example.org").await)
        .await
        .unwrap();
    app.db(move |conn| {
        let session: i32 = agenda_sessions::table
            .filter(agenda_sessions::slug.eq("keynote"))
            .select(agenda_sessions::id)
            .first(conn)?;
        let event: i32 = agenda_sessions::table
            .find(session)
            .select(agenda_sessions::event_id)
            .first(conn)?;
        rollcall::db::online::record_watching(
            conn,
            &[rollcall::db::online::Watched {
                participant_id: participant,
                session_id: session,
                event_id: event,
                seconds: 600,
            }],
            rollcall::db::now_ms(),
        )
    })
    .await;
    let keynote = session_stats(&app, &screen, "keynote").await;
    assert_eq!(
        (
            keynote["online"].as_i64(),
            keynote["minutes_watched"].as_i64()
        ),
        (Some(1), Some(10))
    );
    let stats: Value = app.stats(&screen).await;
    assert_eq!(
        stats["attended"],
        json!({"offline": 0, "online": 1, "total": 1})
    );
}

/// The per-record and per-person flags the counts read are kept by the
/// database: a minimum changed after people joined, an undo, and an online
/// record upgraded to in person all move the totals at once.
#[actix_web::test]
async fn counts_follow_minimum_changes_undo_and_upgrades() {
    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let ada = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    let bob = app
        .register_ok("bob@example.org", "offline", &["keynote"])
        .await;
    let set_minimum = |minutes: i32| {
        app.db(move |conn| {
            Ok(
                diesel::update(agenda_sessions::table.filter(agenda_sessions::slug.eq("keynote")))
                    .set(agenda_sessions::online_min_minutes.eq(minutes))
                    .execute(conn)?,
            )
        })
    };
    let attended = || async {
        let stats = app.stats(&screen).await;
        let keynote = session_stats(&app, &screen, "keynote").await;
        (
            stats["attended"].clone(),
            stats["no_shows"]["total"].as_i64().unwrap(),
            keynote["in_person"].as_i64().unwrap(),
            keynote["online"].as_i64().unwrap(),
            keynote["online_joined"].as_i64().unwrap(),
        )
    };

    app.get(&format!("{ada}/join/keynote")).await;
    assert_eq!(
        attended().await,
        (json!({"offline": 0, "online": 1, "total": 1}), 1, 0, 1, 1)
    );

    set_minimum(10).await;
    assert_eq!(
        attended().await,
        (json!({"offline": 0, "online": 0, "total": 0}), 2, 0, 0, 1),
        "a higher minimum uncounts a join that watched nothing"
    );
    set_minimum(0).await;
    assert_eq!(
        attended().await,
        (json!({"offline": 0, "online": 1, "total": 1}), 1, 0, 1, 1)
    );

    // Bob follows online first (not enough minutes), then walks in.
    set_minimum(10).await;
    app.get(&format!("{bob}/join/keynote")).await;
    assert_eq!(
        attended().await,
        (json!({"offline": 0, "online": 0, "total": 0}), 2, 0, 0, 2)
    );
    let code = app.code_of("bob@example.org").await;
    let (status, answer) = app
        .scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    assert_eq!(
        attended().await,
        (json!({"offline": 1, "online": 0, "total": 1}), 1, 1, 0, 1),
        "the online record became an in-person one"
    );

    let participant_id = answer["participant"]["id"].as_i64().unwrap();
    let (status, _) = app.undo(&organiser, participant_id, "keynote").await;
    assert_eq!(status, 200);
    assert_eq!(
        attended().await,
        (json!({"offline": 0, "online": 0, "total": 0}), 2, 0, 0, 1),
        "after the undo Bob is a no-show again"
    );
    set_minimum(0).await;
    assert_eq!(
        attended().await,
        (json!({"offline": 0, "online": 1, "total": 1}), 1, 0, 1, 1)
    );
}

/// A keynote's start: everyone clicks at once, some twice. Joins are
/// committed together; each person is counted once and every click is
/// sent on to the stream.
#[actix_web::test]
async fn a_burst_of_joins_counts_everyone_once() {
    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut pages = Vec::new();
    for i in 0..40 {
        pages.push(
            app.register_ok(&format!("viewer{i}@example.org"), "online", &["keynote"])
                .await,
        );
    }
    // Joins decided in the same batches as clicks that find no one or no
    // seat: each gets its own answer.
    let mut links: Vec<(String, u16)> = pages
        .iter()
        .chain(pages.iter().take(15))
        .map(|page| (format!("{page}/join/keynote"), 303))
        .collect();
    for (i, page) in pages.iter().take(10).enumerate() {
        links.insert(i * 5, (format!("{page}/join/webinar"), 403));
        links.insert(
            i * 5 + 2,
            (format!("/r/{}/join/keynote", "B".repeat(32)), 404),
        );
        links.insert(i * 5 + 3, (format!("{page}/join/no-such-session"), 404));
    }
    let clicks = links.iter().map(|(link, _)| app.get(link));
    let answers = futures_util::future::join_all(clicks).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    let expected: Vec<u16> = links.iter().map(|(_, status)| *status).collect();
    assert_eq!(statuses, expected, "every click gets its own answer");
    assert_eq!(online_records(&app).await.len(), 40);
    let keynote = session_stats(&app, &screen, "keynote").await;
    assert_eq!(keynote["online_joined"], 40);
}
