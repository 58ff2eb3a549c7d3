use crate::helpers::*;
use serde_json::json;

async fn signed_in(role: &str) -> TestApp {
    let app = TestApp::spawn().await;
    app.create_staff("someone", role, None).await;
    assert_eq!(app.login("someone", PASSWORD).await.status().as_u16(), 303);
    app
}

#[actix_web::test]
async fn an_organiser_creates_an_event_with_a_session_and_it_is_open_for_registration() {
    let app = signed_in("organiser").await;
    let token = app.csrf_token("/admin/events/new").await;
    let mut event = vec![
        ("csrf_token", token.as_str()),
        ("title", "Members' Day"),
        ("slug", "Members Day"),
        ("venue", "Hall 1"),
        ("timezone", "Europe/Zurich"),
        ("starts_at", "2030-05-04T09:00"),
        ("ends_at", "2030-05-04T18:00"),
        ("checkin_grace_minutes", "20"),
        ("description", "Once a year."),
    ];
    let refused = app.post_form("/admin/events", &event).await;
    assert_eq!(refused.status().as_u16(), 422);
    let page = scraper::Html::parse_document(&refused.text().await.unwrap());
    assert!(text(&page, "#slug-error").contains("lower-case"));
    assert_eq!(
        attr(&page, "input[name=title]", "value").as_deref(),
        Some("Members' Day")
    );
    assert_eq!(
        attr(&page, "input[name=starts_at]", "value").as_deref(),
        Some("2030-05-04T09:00")
    );

    event[2] = ("slug", "members-day");
    let created = app.post_form("/admin/events", &event).await;
    assert_eq!(created.status().as_u16(), 303);
    assert_eq!(location(&created), "/admin/events/members-day");

    let token = app
        .csrf_token("/admin/events/members-day/sessions/new")
        .await;
    let session = [
        ("csrf_token", token.as_str()),
        ("title", "Morning plenary"),
        ("slug", "plenary"),
        ("room", "Hall 1"),
        ("starts_at", "2030-05-04T09:30"),
        ("ends_at", "2030-05-04T11:00"),
        ("format", "hybrid"),
        ("capacity_offline", "80"),
        ("capacity_online", ""),
        ("stream_url", "https://stream.example.org/plenary"),
    ];
    assert_eq!(
        app.post_form("/admin/events/members-day/sessions", &session)
            .await
            .status()
            .as_u16(),
        303
    );
    // A second session with that slug is refused, the form kept.
    let token = app
        .csrf_token("/admin/events/members-day/sessions/new")
        .await;
    let mut again = session;
    again[0] = ("csrf_token", token.as_str());
    again[1] = ("title", "Afternoon plenary");
    let clash = app
        .post_form("/admin/events/members-day/sessions", &again)
        .await;
    assert_eq!(clash.status().as_u16(), 422);
    let clash = clash.text().await.unwrap();
    assert!(clash.contains("already uses this slug"));
    assert!(clash.contains("Afternoon plenary"));

    let (status, page) = app.get_html("/events/members-day").await;
    assert_eq!(status, 200);
    assert!(text(&page, ".programme").contains("Morning plenary"));
    assert!(!text(&page, ".programme").contains("Afternoon plenary"));
    assert!(
        text(&page, ".programme").contains("09:30–11:00"),
        "shown in the event's zone"
    );

    // Editing keeps the slug unique.
    let token = app.csrf_token("/admin/events/test-forum/edit").await;
    let clash = app
        .post_form(
            "/admin/events/test-forum/edit",
            &[
                ("csrf_token", token.as_str()),
                ("title", "T"),
                ("slug", "members-day"),
                ("timezone", "UTC"),
                ("starts_at", "2030-01-01T00:00"),
                ("ends_at", "2030-01-02T00:00"),
                ("checkin_grace_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(clash.status().as_u16(), 422);
    assert!(clash
        .text()
        .await
        .unwrap()
        .contains("already uses this slug"));
}

#[actix_web::test]
async fn an_organiser_corrects_and_cancels_a_registration() {
    let app = signed_in("organiser").await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let (_, list) = app
        .get_html("/admin/events/test-forum/participants?q=ada")
        .await;
    let link = attr(&list, "tbody a", "href").expect("Ada is listed");
    let token = app.csrf_token(&link).await;
    let saved = app
        .post_form(
            &link,
            &[
                ("csrf_token", token.as_str()),
                ("full_name", "Ada King"),
                ("email", "ada@example.org"),
                ("affiliation", "Royal Society"),
                ("country", "GB"),
                ("mode", "online"),
                ("category", "speaker"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let (_, list) = app.get_html("/admin/events/test-forum/participants").await;
    assert!(text(&list, "tbody").contains("Ada King"));
    let (_, found) = app
        .get_html("/admin/events/test-forum/participants?q=king")
        .await;
    assert_eq!(text(&found, "tbody a"), "Ada King", "found by the new name");
    let (_, none) = app
        .get_html("/admin/events/test-forum/participants?q=lovelace")
        .await;
    assert_eq!(count(&none, "tbody tr"), 0, "not by the old one");
    assert!(text(&none, "[role=status]").contains("No one matches “lovelace”"));
    assert!(text(&list, "tbody").contains("Online"));

    let cancelled = app
        .post_form(&format!("{link}/cancel"), &[("csrf_token", token.as_str())])
        .await;
    assert_eq!(cancelled.status().as_u16(), 303);
    let (_, list) = app.get_html("/admin/events/test-forum/participants").await;
    assert!(text(&list, "tbody").contains("cancelled"));
}

#[actix_web::test]
async fn a_token_made_in_the_web_ui_scans_until_it_is_revoked() {
    let app = signed_in("organiser").await;
    let token = app.csrf_token("/admin/events/test-forum").await;
    let created = app
        .post_form(
            "/admin/events/test-forum/tokens",
            &[
                ("csrf_token", token.as_str()),
                ("label", "North door phone"),
                ("role", "door"),
                ("sessions", "keynote"),
            ],
        )
        .await;
    assert_eq!(created.status().as_u16(), 200);
    let page = scraper::Html::parse_document(&created.text().await.unwrap());
    let device_token = text(&page, "code.secret")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(device_token.starts_with("rc_"));
    assert!(text(&page, "code.secret").contains("/scan/test-forum/device#token=rc_"));

    assert_eq!(
        app.scan(&device_token, json!({"code": "x", "session": "keynote"}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.scan(&device_token, json!({"code": "x", "session": "webinar"}))
            .await
            .0,
        403,
        "limited to the keynote"
    );

    let (_, overview) = app.get_html("/admin/events/test-forum").await;
    assert!(text(&overview, "#tokens").contains("North door phone"));
    assert!(
        !overview.html().contains(&device_token),
        "shown once, never again"
    );
    let revoke = attr(&overview, "#tokens form[action$=revoke]", "action").unwrap();
    assert_eq!(
        app.post_form(&revoke, &[("csrf_token", token.as_str())])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        app.scan(&device_token, json!({"code": "x", "session": "keynote"}))
            .await
            .0,
        401
    );
}

#[actix_web::test]
async fn the_log_lists_every_scan_and_undo_takes_one_back() {
    let app = signed_in("organiser").await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    app.scan(
        &door,
        json!({"code": code, "session": "keynote", "door": "North"}),
    )
    .await;
    app.scan(
        &door,
        json!({"code": "AAAAAAAAAAAAAAAAAAAAAAAAAA", "session": "keynote"}),
    )
    .await;

    let (_, log) = app.get_html("/admin/events/test-forum/checkins").await;
    let rows = text(&log, "tbody");
    assert!(rows.contains("Ada Lovelace") && rows.contains("accepted"));
    assert!(rows.contains("unknown code"));
    let token = attr(&log, "input[name=csrf_token]", "value").unwrap();
    let pid = attr(&log, "input[name=participant_id]", "value").unwrap();
    let undone = app
        .post_form(
            "/admin/events/test-forum/checkins/undo",
            &[
                ("csrf_token", token.as_str()),
                ("participant_id", pid.as_str()),
                ("session", "keynote"),
            ],
        )
        .await;
    assert_eq!(undone.status().as_u16(), 303);
    let (_, again) = app
        .scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    assert_eq!(
        again["status"], "accepted",
        "the undone check-in no longer counts"
    );
}

/// Every organiser page, walked with each kind of caller.
#[actix_web::test]
async fn every_admin_page_checks_the_role() {
    let pages = [
        "/admin/events/new",
        "/admin/events/test-forum",
        "/admin/events/test-forum/edit",
        "/admin/events/test-forum/sessions/new",
        "/admin/events/test-forum/participants",
        "/admin/events/test-forum/checkins",
    ];
    let anonymous = TestApp::spawn().await;
    for page in pages.iter().chain(["/admin"].iter()) {
        let response = anonymous.get(page).await;
        assert_eq!(response.status().as_u16(), 303, "{page} without sign-in");
        assert!(location(&response).starts_with("/login?next="), "{page}");
    }
    for (role, expected) in [("door", 403), ("organiser", 200), ("admin", 200)] {
        let app = signed_in(role).await;
        assert_eq!(
            app.get("/admin").await.status().as_u16(),
            200,
            "{role} sees the event list"
        );
        for page in pages {
            assert_eq!(
                app.get(page).await.status().as_u16(),
                expected,
                "{role} on {page}"
            );
        }
    }
    // POSTs too: a door account can't change anything.
    let door = signed_in("door").await;
    let token = door.csrf_token("/events/test-forum").await;
    for path in [
        "/admin/events",
        "/admin/events/test-forum/edit",
        "/admin/events/test-forum/sessions",
        "/admin/events/test-forum/tokens",
        "/admin/events/test-forum/checkins/undo",
    ] {
        let response = door
            .post_form(path, &[("csrf_token", token.as_str())])
            .await;
        assert_eq!(response.status().as_u16(), 403, "door POST {path}");
    }
}

#[actix_web::test]
async fn admin_forms_without_csrf_are_refused() {
    let app = signed_in("organiser").await;
    app.get("/admin").await;
    let response = app
        .post_form(
            "/admin/events",
            &[("title", "X"), ("slug", "x"), ("timezone", "UTC")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    let response = app
        .post_form(
            "/admin/events/test-forum/tokens",
            &[("label", "x"), ("role", "door")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
}
