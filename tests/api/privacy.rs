//! Erasing personal data: by the registrant, and by an organiser's purge
//! after the event. Personal data goes; anonymous counts stay.

use crate::helpers::*;
use diesel::prelude::*;
use rollcall::db::schema::{agenda_sessions, events, participants};
use serde_json::json;

async fn erase(app: &TestApp, page: &str) -> reqwest::Response {
    let (status, confirm) = app.get_html(&format!("{page}/erase")).await;
    assert_eq!(status, 200);
    let token = attr(&confirm, "input[name=csrf_token]", "value").unwrap();
    app.post_form(&format!("{page}/erase"), &[("csrf_token", token.as_str())])
        .await
}

/// Moves the test forum into the past: it ended an hour ago.
async fn end_the_event(app: &TestApp) {
    app.db(|conn| {
        let past = rollcall::db::now_ms() - 3_600_000;
        diesel::update(events::table)
            .set(events::ends_at.eq(past))
            .execute(conn)?;
        diesel::update(agenda_sessions::table)
            .set((
                agenda_sessions::starts_at.eq(past - 3_600_000),
                agenda_sessions::ends_at.eq(past),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await;
}

async fn emails(app: &TestApp) -> Vec<String> {
    app.db(|conn| Ok(participants::table.select(participants::email).load(conn)?))
        .await
}

#[actix_web::test]
async fn a_registrant_erases_their_data_before_the_event_and_is_cancelled() {
    let app = TestApp::spawn().await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let page = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("bo@example.org", "offline", &[]).await;
    let code = app.code_of("ada@example.org").await;

    let response = erase(&app, &page).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("personal data is deleted"));
    assert_eq!(
        app.get(&page).await.status().as_u16(),
        404,
        "the link is dead"
    );
    assert!(!emails(&app).await.contains(&"ada@example.org".to_string()));
    let stats = app.stats(&organiser).await;
    assert_eq!(stats["registered"]["total"], 1);
    assert_eq!(stats["cancelled"], 1);

    let door = app.create_token(EVENT, "door", &[]).await;
    let (_, answer) = app
        .scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    assert_eq!(answer["reason"], "unknown_code", "the badge is dead too");
    // The same address may register again: it is free.
    app.register_ok("ada@example.org", "offline", &[]).await;
}

#[actix_web::test]
async fn after_the_event_erasing_and_purging_keep_every_count() {
    let app = TestApp::spawn().await;
    app.lift_capacities().await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let ada = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("bo@example.org", "online", &["keynote"])
        .await;
    app.register_ok("cy@example.org", "offline", &["keynote"])
        .await;
    for email in ["ada@example.org", "cy@example.org"] {
        let (_, answer) = app
            .scan(
                &door,
                json!({"code": app.code_of(email).await, "session": "keynote", "scan_id": email}),
            )
            .await;
        assert_eq!(answer["status"], "accepted");
    }
    // The purge button waits for the end of the event.
    app.create_staff("olga", "organiser", None).await;
    app.login("olga", PASSWORD).await;
    let purge = |confirm: bool| {
        let app = &app;
        async move {
            let token = app.csrf_token(&format!("/admin/events/{EVENT}")).await;
            let mut fields = vec![("csrf_token", token)];
            if confirm {
                fields.push(("confirm", "yes".to_string()));
            }
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(&format!("/admin/events/{EVENT}/purge"), &fields)
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(purge(true).await, 400, "not before the event has ended");

    end_the_event(&app).await;
    let cy_code = app.code_of("cy@example.org").await;
    let mut before = app.stats(&organiser).await;
    let response = erase(&app, &ada).await;
    assert_eq!(response.status().as_u16(), 200);
    let mut after_erase = app.stats(&organiser).await;
    assert_eq!(purge(false).await, 400, "the box must be ticked");
    assert_eq!(purge(true).await, 303);
    let mut after_purge = app.stats(&organiser).await;
    // Names change in the recent list; every count stays.
    for stats in [&mut before, &mut after_erase, &mut after_purge] {
        stats.as_object_mut().unwrap().remove("recent");
    }
    assert_eq!(after_erase, before);
    assert_eq!(after_purge, before);
    assert_eq!(before["attended"]["offline"], 2);

    let left = emails(&app).await;
    assert!(
        left.iter().all(|e| e.ends_with("@invalid")),
        "no real address is left: {left:?}"
    );
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/events/{EVENT}/participants.csv")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for gone in ["Ada", "example.org", "Analytical"] {
        assert!(!csv.contains(gone), "{gone} still in participants.csv");
    }
    let (_, event_page) = app.get_html(&format!("/admin/events/{EVENT}")).await;
    assert!(text(&event_page, "#privacy").contains("3 of 3"));

    // Both acceptances are still in the log, and a scan queued on a door
    // phone since then is still told "accepted", without the name.
    let log = app.log_lines().await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|l| l.outcome == "accepted"));
    let (_, retry) = app
        .scan(
            &door,
            json!({"code": cy_code, "session": "keynote", "scan_id": "cy@example.org"}),
        )
        .await;
    assert_eq!(retry["status"], "accepted", "{retry}");
    assert!(!retry.to_string().contains("Cy"), "{retry}");
}

#[actix_web::test]
async fn door_staff_may_not_purge() {
    let app = TestApp::spawn().await;
    end_the_event(&app).await;
    app.create_staff("dora", "door", None).await;
    app.login("dora", PASSWORD).await;
    let token = app.csrf_token("/login").await;
    let response = app
        .post_form(
            &format!("/admin/events/{EVENT}/purge"),
            &[("csrf_token", token.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
}

#[actix_web::test]
async fn a_queued_retry_of_an_erased_registrants_scan_gets_its_outcome_without_their_name() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let page = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let scan = json!({
        "code": app.code_of("ada@example.org").await,
        "session": "keynote",
        "door": "North",
        "scan_id": "0192f0c2-7777-7a4a-9b9b-000000000001",
    });
    let (_, first) = app.scan(&door, scan.clone()).await;
    assert_eq!(first["status"], "accepted");
    assert_eq!(erase(&app, &page).await.status().as_u16(), 200);

    // The door's phone was offline and sends its queued scan again.
    let (status, retry) = app.scan(&door, scan).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["status"], "accepted", "the outcome it had: {retry}");
    assert_eq!(retry["session"], "keynote");
    assert_eq!(retry["door"], "North");
    assert_eq!(retry["checked_in_at"], first["checked_in_at"]);
    assert!(
        !retry.to_string().contains("Lovelace"),
        "the erased name stays erased: {retry}"
    );
}
