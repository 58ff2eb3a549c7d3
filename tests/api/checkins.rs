use crate::helpers::*;
use diesel::prelude::*;
use rollcall::db::schema::{attendance, checkin_log};
use serde_json::json;

async fn attendance_rows(app: &TestApp) -> i64 {
    app.db(|conn| Ok(attendance::table.count().get_result::<i64>(conn)?))
        .await
}

#[actix_web::test]
async fn a_scan_is_accepted_once_then_reported_as_duplicate_with_first_door_and_time() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let door = app.create_token(EVENT, "door", &[]).await;

    let (status, first) = app
        .scan(
            &door,
            json!({"code": code, "session": "keynote", "door": "North entrance"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["participant"]["name"], "Ada Lovelace");
    assert_eq!(first["participant"]["country"], "GB");
    assert_eq!(first["participant"]["mode"], "offline");
    assert!(
        first["participant"].get("email").is_none(),
        "no email at the door"
    );

    let (status, again) = app
        .scan(
            &door,
            json!({"code": code.to_lowercase(), "session": "keynote", "door": "South entrance"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["first_door"], "North entrance");
    assert_eq!(again["first_checked_in_at"], first["checked_in_at"]);
    assert!(again["first_checked_in_local"]
        .as_str()
        .unwrap()
        .contains(':'));
    assert_eq!(attendance_rows(&app).await, 1);

    // Entry to the event itself is counted separately.
    let (_, entry) = app.scan(&door, json!({"code": code})).await;
    assert_eq!(entry["status"], "accepted");
    assert_eq!(entry["session"], serde_json::Value::Null);
    assert_eq!(attendance_rows(&app).await, 2);
}

#[actix_web::test]
async fn each_rejection_names_its_reason() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.register_ok("keen@example.org", "offline", &["keynote", "lab-tour"])
        .await;
    app.register_ok("other@example.org", "offline", &["webinar"])
        .await;
    app.register_ok("ghost@example.org", "offline", &["keynote"])
        .await;
    let keen = app.code_of("keen@example.org").await;
    let other = app.code_of("other@example.org").await;

    let reason = |answer: &serde_json::Value| answer["reason"].as_str().unwrap_or("").to_string();

    let (_, a) = app
        .scan(
            &door,
            json!({"code": "AAAAAAAAAAAAAAAAAAAAAAAAAA", "session": "keynote"}),
        )
        .await;
    assert_eq!(
        (a["status"].as_str(), reason(&a).as_str()),
        (Some("rejected"), "unknown_code")
    );
    assert_eq!(a["participant"], serde_json::Value::Null);
    let (status, a) = app
        .scan(
            &door,
            json!({"code": "https://example.org/not-ours", "session": "keynote"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(reason(&a), "unknown_code");

    let (_, a) = app
        .scan(&door, json!({"code": other, "session": "keynote"}))
        .await;
    assert_eq!(reason(&a), "not_registered_for_session");
    assert_eq!(
        a["participant"]["name"], "Ada Lovelace",
        "the door sees who it was"
    );

    // The lab tour starts in an hour; doors open 30 minutes before.
    let (_, a) = app
        .scan(&door, json!({"code": keen, "session": "lab-tour"}))
        .await;
    assert_eq!(reason(&a), "session_not_open");

    app.open_all_doors().await;
    let (_, a) = app
        .scan(&door, json!({"code": keen, "session": "members-meeting"}))
        .await;
    assert_eq!(reason(&a), "members_only");

    // Cancelled registrations are refused.
    let ghost_page = {
        use rollcall::db::schema::participants;
        app.db(|conn| {
            Ok(participants::table
                .filter(participants::email.eq("ghost@example.org"))
                .select(participants::page_token)
                .first::<String>(conn)?)
        })
        .await
    };
    app.cancel_registration(&format!("/r/{ghost_page}")).await;
    let (_, a) = app
        .scan(
            &door,
            json!({"code": app.code_of("ghost@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(reason(&a), "cancelled");

    // Another event's participant.
    app.create_other_event("other-forum").await;
    let other_door = app.create_token("other-forum", "door", &[]).await;
    let (_, a) = app
        .api_post(
            &other_door,
            "/api/v1/events/other-forum/checkins",
            json!({"code": keen}),
        )
        .await;
    assert_eq!(reason(&a), "wrong_event");
    assert_eq!(
        a["participant"],
        serde_json::Value::Null,
        "nothing about another event's people"
    );

    assert_eq!(
        attendance_rows(&app).await,
        0,
        "no rejection counted anyone"
    );
    let logged: i64 = app
        .db(|conn| {
            Ok(checkin_log::table
                .filter(checkin_log::outcome.eq("rejected"))
                .count()
                .get_result(conn)?)
        })
        .await;
    assert_eq!(logged, 7, "every scan is in the log, whatever its outcome");
}

#[actix_web::test]
async fn a_full_room_rejects_and_an_online_registrant_who_comes_is_counted_in_person() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.register_ok("one@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("far@example.org", "online", &["keynote"])
        .await;
    app.register_ok("two@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("late@example.org", "online", &["keynote"])
        .await;

    let (_, a) = app
        .scan(
            &door,
            json!({"code": app.code_of("far@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(a["status"], "accepted");
    assert!(a["warning"].as_str().unwrap().contains("online"));
    let mode: String = app
        .db(|conn| Ok(attendance::table.select(attendance::mode).first(conn)?))
        .await;
    assert_eq!(mode, "offline", "counted in person for this session");

    // The keynote has two in-person seats: the third person in is refused.
    let (_, a) = app
        .scan(
            &door,
            json!({"code": app.code_of("one@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(a["status"], "accepted");
    let (_, a) = app
        .scan(
            &door,
            json!({"code": app.code_of("two@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(a["status"], "rejected");
    assert_eq!(a["reason"], "session_full");
    // Someone already inside is still a duplicate, not "full".
    let (_, a) = app
        .scan(
            &door,
            json!({"code": app.code_of("one@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(a["status"], "duplicate");
}

#[actix_web::test]
async fn a_retry_with_the_same_scan_id_gets_the_same_answer_and_records_nothing_new() {
    // Capped, the keynote's scans take the careful path; uncapped, the
    // batch's quick one. Both keep a plain acceptance on its record alone.
    for capped in [true, false] {
        let app = TestApp::spawn().await;
        if !capped {
            app.lift_capacities().await;
        }
        let door = app.create_token(EVENT, "door", &[]).await;
        app.register_ok("ada@example.org", "offline", &["keynote"])
            .await;
        let code = app.code_of("ada@example.org").await;
        let scan = json!({"code": code, "session": "keynote", "door": "North", "scan_id": "6d1f0c2e-1111-4a4a-9b9b-000000000001"});

        let (_, first) = app.scan(&door, scan.clone()).await;
        let (_, retry) = app.scan(&door, scan.clone()).await;
        assert_eq!(first["status"], "accepted");
        assert_eq!(
            retry, first,
            "capped {capped}: the retry sees the original answer, not a duplicate"
        );
        assert_eq!(attendance_rows(&app).await, 1);
        let (logged, carried): (i64, Vec<Option<String>>) = app
            .db(|conn| {
                Ok((
                    checkin_log::table.count().get_result(conn)?,
                    attendance::table.select(attendance::scan_id).load(conn)?,
                ))
            })
            .await;
        assert_eq!(
            logged, 0,
            "capped {capped}: the record carries the acceptance"
        );
        assert_eq!(carried, vec![scan["scan_id"].as_str().map(str::to_string)]);

        // A new scan of the same code is a duplicate, as it should be.
        let (_, next) = app
            .scan(
                &door,
                json!({"code": code, "session": "keynote", "scan_id": "another"}),
            )
            .await;
        assert_eq!(next["status"], "duplicate");
    }
}

/// A retry that arrives late (a phone back on the Wi-Fi) is still told
/// what it was told first, after the registrant cancelled and after an
/// organiser took the check-in back, and records nothing; the log keeps
/// the acceptance and the undo.
#[actix_web::test]
async fn a_late_retry_after_a_cancellation_or_an_undo_is_still_told_accepted() {
    let app = TestApp::spawn().await;
    app.lift_capacities().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let page = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let scan = json!({"code": code, "session": "keynote", "door": "North", "scan_id": "late-1"});
    let (_, first) = app.scan(&door, scan.clone()).await;
    assert_eq!(first["status"], "accepted");
    let participant_id = first["participant"]["id"].as_i64().unwrap();

    let token = app.csrf_token(&format!("{page}/cancel")).await;
    let cancelled = app
        .post_form(&format!("{page}/cancel"), &[("csrf_token", token.as_str())])
        .await;
    assert_eq!(cancelled.status().as_u16(), 303);
    let (_, after_cancelling) = app.scan(&door, scan.clone()).await;
    assert_eq!(after_cancelling, first);
    let (_, fresh) = app
        .scan(
            &door,
            json!({"code": code, "session": "keynote", "scan_id": "late-2"}),
        )
        .await;
    assert_eq!(fresh["reason"], "cancelled", "a new scan is refused");

    let (status, undone) = app.undo(&organiser, participant_id, "keynote").await;
    assert_eq!((status, undone["undone"].as_bool()), (200, Some(true)));
    let (_, after_undoing) = app.scan(&door, scan).await;
    assert_eq!(after_undoing, first);
    assert_eq!(attendance_rows(&app).await, 0, "the retry recorded nothing");

    let log = app
        .db(move |conn| {
            let event = rollcall::db::events::find_event(conn, EVENT)?.unwrap();
            rollcall::db::checkins::recent_log(conn, event.id, 10)
        })
        .await;
    let lines: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str(), e.door.as_deref()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("undo", "undone", None),
            ("scan", "rejected", None),
            ("scan", "accepted", Some("North")),
        ]
    );
}

#[actix_web::test]
async fn a_retry_of_an_acceptance_with_a_warning_gets_the_warning_again() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.register_ok("far@example.org", "online", &["keynote"])
        .await;
    let scan = json!({"code": app.code_of("far@example.org").await, "session": "keynote", "scan_id": "far-1"});

    let (_, first) = app.scan(&door, scan.clone()).await;
    let (_, retry) = app.scan(&door, scan).await;
    assert!(first["warning"].as_str().unwrap().contains("online"));
    assert_eq!(retry, first);
}

#[actix_web::test]
async fn thirty_two_doors_scanning_one_code_at_once_count_it_once() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let scans = (0..32).map(|i| {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/events/{EVENT}/checkins")))
            .bearer_auth(&door)
            .json(&json!({"code": code, "session": "keynote", "door": format!("Door {i}"), "scan_id": format!("scan-{i}")}));
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer["status"].as_str().unwrap().to_string()
        }
    });
    let statuses = futures_util::future::join_all(scans).await;
    assert_eq!(
        statuses.iter().filter(|s| *s == "accepted").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "duplicate").count(),
        31,
        "{statuses:?}"
    );
    assert_eq!(attendance_rows(&app).await, 1);
}

#[actix_web::test]
async fn many_doors_scanning_different_people_at_once_all_get_answers() {
    // Without scan ids, so each transaction's first statement is a read: on
    // SQLite that once meant "database is locked" 500s under load.
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let mut codes = Vec::new();
    for i in 0..40 {
        let email = format!("person{i}@example.org");
        app.register_ok(&email, "offline", &[]).await;
        codes.push(app.code_of(&email).await);
    }
    // Each code twice: forty first check-ins and forty "already in".
    let scans = codes.iter().chain(codes.iter()).map(|code| {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/events/{EVENT}/checkins")))
            .bearer_auth(&door)
            .json(&json!({"code": code, "door": "Main"}));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let answer: serde_json::Value = response.json().await.unwrap();
            (status, answer["status"].as_str().unwrap_or("?").to_string())
        }
    });
    let answers = futures_util::future::join_all(scans).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let accepted = answers.iter().filter(|(_, s)| s == "accepted").count();
    let duplicate = answers.iter().filter(|(_, s)| s == "duplicate").count();
    assert_eq!((accepted, duplicate), (40, 40), "{answers:?}");
    assert_eq!(attendance_rows(&app).await, 40);
}

#[actix_web::test]
async fn bad_requests_and_bad_credentials_get_json_errors() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let path = format!("/api/v1/events/{EVENT}/checkins");

    let raw = |token: Option<&str>, body: &'static str| {
        let mut request = app
            .client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    for body in [
        "{not json",
        "[]",
        "{\"code\": 42}",
        "{}",
        "{\"session\": \"keynote\"}",
        "{\"code\": \"X\", \"door\": \"\\u0000\"}",
    ] {
        let (status, error) = raw(Some(&door), body).await;
        assert_eq!(status, 400, "{body}");
        assert!(error["error"].is_string(), "{body}: {error}");
    }
    let (status, error) = app
        .scan(
            &door,
            json!({"code": "AAAAAAAAAAAAAAAAAAAAAAAAAA", "session": "nope"}),
        )
        .await;
    assert_eq!((status, error["field"].as_str()), (400, Some("session")));

    let (status, _) = raw(None, "{\"code\": \"x\"}").await;
    assert_eq!(status, 401);
    let (status, _) = raw(
        Some("rc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "{\"code\": \"x\"}",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = raw(Some("garbage"), "{\"code\": \"x\"}").await;
    assert_eq!(status, 401);

    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let (status, error) = app.scan(&screen, json!({"code": "x"})).await;
    assert_eq!(status, 403, "{error}");

    let limited = app.create_token(EVENT, "door", &["lab-tour"]).await;
    let (status, _) = app
        .scan(&limited, json!({"code": "x", "session": "keynote"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .scan(&limited, json!({"code": "x", "session": "lab-tour"}))
        .await;
    assert_eq!(status, 200);

    let (status, _) = app
        .api_post(
            &door,
            "/api/v1/events/no-such-event/checkins",
            json!({"code": "x"}),
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_token_of_another_event_is_refused() {
    let app = TestApp::spawn().await;
    app.create_other_event("elsewhere").await;
    let foreign = app.create_token("elsewhere", "door", &[]).await;
    let (status, error) = app
        .scan(&foreign, json!({"code": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}))
        .await;
    assert_eq!(status, 403);
    assert!(error["error"].as_str().unwrap().contains("may not"));
}

#[actix_web::test]
async fn a_revoked_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    assert_eq!(app.scan(&door, json!({"code": "x"})).await.0, 200);
    app.db(|conn| {
        use rollcall::db::schema::device_tokens;
        let id: i32 = device_tokens::table.select(device_tokens::id).first(conn)?;
        let event_id: i32 = device_tokens::table
            .select(device_tokens::event_id)
            .first(conn)?;
        rollcall::db::tokens::revoke(conn, event_id, id, rollcall::db::now_ms())
    })
    .await;
    assert_eq!(app.scan(&door, json!({"code": "x"})).await.0, 401);
}

#[actix_web::test]
async fn an_organiser_can_undo_a_check_in_and_the_count_goes_back() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let (_, accepted) = app
        .scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    let participant_id = accepted["participant"]["id"].as_i64().unwrap();

    let (status, _) = app.undo(&door, participant_id, "keynote").await;
    assert_eq!(status, 403, "door devices can't undo");

    let (status, undone) = app.undo(&organiser, participant_id, "keynote").await;
    assert_eq!((status, undone["undone"].as_bool()), (200, Some(true)));
    assert_eq!(attendance_rows(&app).await, 0);
    let (_, again) = app.undo(&organiser, participant_id, "keynote").await;
    assert_eq!(again["undone"], false);

    let undo_logged: i64 = app
        .db(|conn| {
            Ok(checkin_log::table
                .filter(checkin_log::action.eq("undo"))
                .count()
                .get_result(conn)?)
        })
        .await;
    assert_eq!(undo_logged, 1);
    let (_, rescan) = app
        .scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    assert_eq!(rescan["status"], "accepted");
}

#[actix_web::test]
async fn door_staff_find_people_by_name_and_check_them_in_by_hand() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events/{EVENT}/participants?q=lovel")))
        .bearer_auth(&door)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let found: serde_json::Value = response.json().await.unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["name"], "Ada Lovelace");
    assert!(found[0].get("email").is_none());

    let (_, answer) = app
        .scan(
            &door,
            json!({"participant_id": found[0]["id"], "session": "keynote", "door": "Desk"}),
        )
        .await;
    assert_eq!(answer["status"], "accepted");
    let source: String = app
        .db(|conn| Ok(attendance::table.select(attendance::source).first(conn)?))
        .await;
    assert_eq!(source, "manual");
}

/// Names are found however they are typed: without their accents, in
/// capitals, or with them.
#[actix_web::test]
async fn door_staff_find_people_without_typing_their_accents() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let mut fields = valid_fields("zofia@example.org", "offline");
    fields[0] = ("full_name", "Zofia Wiśniewska");
    fields.push(("sessions", "keynote"));
    assert_eq!(app.register(&fields).await.status().as_u16(), 303);
    for typed in ["wisn", "WIŚNIEWSKA", "Wisniewska", "zofia w"] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/events/{EVENT}/participants")))
            .query(&[("q", typed)])
            .bearer_auth(&door)
            .send()
            .await
            .unwrap();
        let found: serde_json::Value = response.json().await.unwrap();
        assert_eq!(found.as_array().map(Vec::len), Some(1), "{typed}: {found}");
        assert_eq!(found[0]["name"], "Zofia Wiśniewska");
    }
}

/// One batch holding what a door rush mixes: the same badge twice, a retry
/// with the same scan id, someone who was watching online walking in, a
/// capped session, and a stranger. Each answer is what it would be alone,
/// in order.
#[actix_web::test]
async fn a_batch_answers_each_scan_as_if_it_were_alone() {
    use rollcall::db::checkins::{record_batch, CheckinRequest, Subject};
    use rollcall::domain::{CheckinCode, CheckinStatus};
    let app = TestApp::spawn().await;
    app.open_all_doors().await;
    app.lift_capacities().await;
    let ada = "ada@example.org";
    let bo = "bo@example.org";
    let cy = "cy@example.org";
    app.register_ok(ada, "offline", &["keynote", "lab-tour"])
        .await;
    app.register_ok(bo, "offline", &["lab-tour"]).await;
    let cy_page = app.register_ok(cy, "online", &["keynote"]).await;
    // The lab tour has one seat in the room (two registered: people cancel late).
    app.db(|conn| {
        use rollcall::db::schema::agenda_sessions as s;
        Ok(diesel::update(s::table.filter(s::slug.eq("lab-tour")))
            .set(s::capacity_offline.eq(Some(1)))
            .execute(conn)?)
    })
    .await;
    // Cy joins the stream first: an online record the door will turn in-person.
    app.get(&format!("{cy_page}/join/keynote")).await;
    let codes = [
        app.code_of(ada).await,
        app.code_of(bo).await,
        app.code_of(cy).await,
    ];

    let answers = app
        .db(move |conn| {
            let event = rollcall::db::events::find_event(conn, EVENT)?.unwrap();
            let session = |conn: &mut _, slug| {
                rollcall::db::events::find_session(conn, event.id, slug).map(Option::unwrap)
            };
            let keynote = session(conn, "keynote")?;
            let tour = session(conn, "lab-tour")?;
            let scan = |code: &str,
                        session: &rollcall::db::events::AgendaSession,
                        scan_id: Option<&str>| {
                CheckinRequest {
                    event: event.clone().into(),
                    session: Some(session.clone().into()),
                    subject: Subject::Code(CheckinCode::parse(code).ok()),
                    door: Some("North".into()),
                    scan_id: scan_id.map(str::to_string),
                    actor: "test".into(),
                    now: rollcall::db::now_ms(),
                }
            };
            let requests = vec![
                scan(&codes[0], &keynote, Some("s-1")), // accepted
                scan(&codes[0], &keynote, Some("s-2")), // duplicate: the scan just above
                scan(&codes[0], &keynote, Some("s-1")), // a retry: the first answer again
                scan(&codes[2], &keynote, None),        // was online: now in person
                scan(&codes[2], &keynote, None),        // then a duplicate
                scan(&codes[0], &tour, None),           // lab tour: one seat, taken
                scan(&codes[1], &tour, None),           // full
                scan("NOT-A-CODE", &keynote, None),     // unknown
            ];
            record_batch(conn, &requests)
        })
        .await;
    let summary: Vec<(CheckinStatus, Option<&str>)> = answers
        .iter()
        .map(|a| (a.status, a.reason.map(|r| r.as_str())))
        .collect();
    use CheckinStatus::*;
    assert_eq!(
        summary,
        vec![
            (Accepted, None),
            (Duplicate, None),
            (Accepted, None),
            (Accepted, None),
            (Duplicate, None),
            (Accepted, None),
            (Rejected, Some("session_full")),
            (Rejected, Some("unknown_code")),
        ]
    );
    assert_eq!(answers[2], answers[0], "the retry gets the stored answer");
    assert!(answers[3]
        .warning
        .as_deref()
        .unwrap()
        .contains("now counted in person"));
    assert_eq!(answers[1].first_door.as_deref(), Some("North"));
    // Ada ×2 sessions and Cy (turned in-person): three records. The log
    // page lists every decided scan but the retry; the plain acceptance
    // with a scan id is carried by its record, not by a log row.
    assert_eq!(attendance_rows(&app).await, 3);
    let (logged, carried, listed) = app
        .db(|conn| {
            let event = rollcall::db::events::find_event(conn, EVENT)?.unwrap();
            Ok((
                checkin_log::table.count().get_result::<i64>(conn)?,
                attendance::table
                    .filter(attendance::scan_id.is_not_null())
                    .select(attendance::scan_id)
                    .load::<Option<String>>(conn)?,
                rollcall::db::checkins::recent_log(conn, event.id, 100)?.len(),
            ))
        })
        .await;
    assert_eq!(logged, 6);
    assert_eq!(carried, vec![Some("s-1".to_string())]);
    assert_eq!(listed, 7);
}

#[actix_web::test]
async fn a_scan_id_is_replayed_only_at_the_event_that_answered_it() {
    use rollcall::db::checkins::{record_batch, CheckinRequest, Subject};
    use rollcall::domain::{CheckinCode, CheckinStatus};
    let app = TestApp::spawn().await;
    app.open_all_doors().await;
    app.create_other_event("elsewhere").await;
    let ada = "ada@example.org";
    app.register_ok(ada, "offline", &["keynote"]).await;
    let code = app.code_of(ada).await;

    let (first, later) = app
        .db(move |conn| {
            let forum = rollcall::db::events::find_event(conn, EVENT)?.unwrap();
            let elsewhere = rollcall::db::events::find_event(conn, "elsewhere")?.unwrap();
            let scan =
                |event: &rollcall::db::events::Event, code: &str, scan_id: &str| CheckinRequest {
                    event: event.clone().into(),
                    session: None,
                    subject: Subject::Code(CheckinCode::parse(code).ok()),
                    door: Some("North".into()),
                    scan_id: Some(scan_id.into()),
                    actor: "test".into(),
                    now: rollcall::db::now_ms(),
                };
            let first = record_batch(conn, &[scan(&forum, &code, "s-1")])?;
            // One batch: a door at another event happens to send the same
            // scan id, and the forum's door retries its scan.
            let later = record_batch(
                conn,
                &[
                    scan(&elsewhere, "NOT-A-CODE", "s-1"),
                    scan(&forum, &code, "s-1"),
                ],
            )?;
            Ok((first, later))
        })
        .await;
    assert_eq!(first[0].status, CheckinStatus::Accepted);
    assert_eq!(
        later[0].reason.map(|r| r.as_str()),
        Some("unknown_code"),
        "the other event decides its own scan"
    );
    assert_eq!(
        later[1], first[0],
        "the forum's retry gets its stored answer"
    );
    assert_eq!(attendance_rows(&app).await, 1);
}
