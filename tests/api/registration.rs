use crate::helpers::*;
use diesel::prelude::*;
use rollcall::db::schema::{participant_sessions, participants};

async fn participant_count(app: &TestApp) -> i64 {
    app.db(|conn| Ok(participants::table.count().get_result::<i64>(conn)?))
        .await
}

#[actix_web::test]
async fn the_event_page_shows_the_programme_and_an_empty_form() {
    let app = TestApp::spawn().await;
    let (status, page) = app.get_html(&format!("/events/{EVENT}")).await;
    assert_eq!(status, 200);
    assert!(text(&page, "h1").contains("Test Forum"));
    for title in ["Keynote", "Lab Tour", "Members' Meeting", "Webinar"] {
        assert!(
            text(&page, ".programme").contains(title),
            "{title} is on the programme"
        );
    }
    for field in [
        "full_name",
        "email",
        "affiliation",
        "country",
        "mode",
        "category",
        "sessions",
        "consent",
    ] {
        assert!(
            count(&page, &format!("form [name={field}]")) >= 1,
            "the form has {field}"
        );
    }
    // Every country, by name, with its alpha-2 code as the value.
    assert!(count(&page, "select[name=country] option") > 240);
    assert_eq!(
        attr(&page, "select[name=country] option[value=SE]", "value").as_deref(),
        Some("SE")
    );
    assert!(text(&page, "select[name=country]").contains("Sweden"));
    assert!(text(&page, ".programme").contains("Members only"));
}

#[actix_web::test]
async fn unknown_event_is_a_404_page() {
    let app = TestApp::spawn().await;
    let (status, page) = app.get_html("/events/no-such-event").await;
    assert_eq!(status, 404);
    assert!(text(&page, "h1").contains("Not found"));
}

#[actix_web::test]
async fn a_valid_registration_lands_on_the_personal_page_with_a_qr_code() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "offline", &["keynote", "lab-tour"])
        .await;
    assert!(personal.starts_with("/r/"));

    let (status, page) = app.get_html(&personal).await;
    assert_eq!(status, 200);
    assert!(text(&page, "h1").contains("Ada Lovelace"));
    assert!(text(&page, ".ticket").contains("United Kingdom"));
    assert!(text(&page, ".ticket").contains("In person"));
    assert!(text(&page, ".ticket").contains("Delegate"));
    assert_eq!(count(&page, ".ticket-qr svg"), 1);
    let sessions = text(&page, ".my-sessions");
    assert!(sessions.contains("Keynote") && sessions.contains("Lab Tour"));
    assert!(!sessions.contains("Webinar"));

    let stored = app
        .db(|conn| {
            Ok(participant_sessions::table
                .count()
                .get_result::<i64>(conn)?)
        })
        .await;
    assert_eq!(stored, 2);
}

#[actix_web::test]
async fn registration_mails_the_personal_link_to_the_outbox() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "online", &["webinar"])
        .await;
    let messages = app.outbox_messages(1).await;
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert!(
        mail.contains("To: \"Ada Lovelace\" <ada@example.org>")
            || mail.contains("To: Ada Lovelace <ada@example.org>"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("https://rollcall.test{personal}")),
        "the mail carries the personal link"
    );
    assert!(mail.contains("image/png"), "the QR is attached");
}

#[actix_web::test]
async fn every_invalid_field_comes_back_with_a_message_and_the_typed_values() {
    let app = TestApp::spawn().await;
    let response = app
        .register(&[
            ("full_name", "Grace Hopper"),
            ("email", "grace-at-navy"),
            ("affiliation", "US Navy"),
            ("country", "XX"),
            ("mode", "teleport"),
            ("category", "delegate"),
            ("sessions", "webinar"),
        ])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    for field in ["email", "country", "mode", "consent"] {
        assert!(
            count(&page, &format!("#{field}-error")) == 1,
            "a message next to {field}"
        );
    }
    assert_eq!(
        count(&page, "#full_name-error"),
        0,
        "valid fields have no message"
    );
    assert_eq!(
        attr(&page, "input[name=full_name]", "value").as_deref(),
        Some("Grace Hopper")
    );
    assert_eq!(
        attr(&page, "input[name=email]", "value").as_deref(),
        Some("grace-at-navy")
    );
    assert_eq!(
        attr(&page, "input[name=affiliation]", "value").as_deref(),
        Some("US Navy")
    );
    assert_eq!(
        attr(&page, "select[name=category] option[selected]", "value").as_deref(),
        Some("delegate")
    );
    assert_eq!(
        attr(&page, "input[name=sessions][checked]", "value").as_deref(),
        Some("webinar")
    );
    assert_eq!(
        attr(&page, "input[name=email]", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(participant_count(&app).await, 0);
}

#[actix_web::test]
async fn each_rule_is_reported_on_its_own_field() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, &str, &str)] = &[
        ("full_name", "   ", "full name"),
        ("email", "", "email"),
        ("affiliation", "", "affiliation"),
        ("country", "", "country"),
        ("mode", "", "how you will attend"),
        ("category", "vip", "category"),
        ("consent", "", "agree"),
    ];
    for (field, bad, expected) in cases {
        let mut fields: Vec<(&str, &str)> = valid_fields("ok@example.org", "offline")
            .into_iter()
            .filter(|(name, _)| name != field)
            .collect();
        if !bad.is_empty() {
            fields.push((field, bad));
        }
        let response = app.register(&fields).await;
        assert_eq!(response.status().as_u16(), 422, "{field}");
        let page = scraper::Html::parse_document(&response.text().await.unwrap());
        let message = text(&page, &format!("#{field}-error"));
        assert!(message.contains(expected), "{field}: {message:?}");
        assert_eq!(
            attr(&page, "input[name=affiliation]", "value").unwrap_or_default(),
            if *field == "affiliation" {
                ""
            } else {
                "Analytical Engine Society"
            }
        );
    }
    assert_eq!(participant_count(&app).await, 0);
}

#[actix_web::test]
async fn session_rules_are_explained() {
    let app = TestApp::spawn().await;
    let mut fields = valid_fields("m@example.org", "offline");
    fields.push(("sessions", "members-meeting"));
    let body = app.register(&fields).await.text().await.unwrap();
    assert!(body.contains("for member representatives only"));

    let mut fields = valid_fields("o@example.org", "online");
    fields.push(("sessions", "lab-tour"));
    let body = app.register(&fields).await.text().await.unwrap();
    assert!(body.contains("in person only"));

    let mut fields = valid_fields("x@example.org", "offline");
    fields.push(("sessions", "not-a-session"));
    let response = app.register(&fields).await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("is not a session on this event"));
    assert_eq!(participant_count(&app).await, 0);
}

#[actix_web::test]
async fn the_same_email_twice_is_refused_without_revealing_the_first_registration() {
    let app = TestApp::spawn().await;
    let first = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;

    let mut fields = valid_fields(" ADA@Example.org ", "online");
    fields.push(("sessions", "webinar"));
    let response = app.register(&fields).await;
    assert_eq!(response.status().as_u16(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("already registered"));
    let token = first.trim_start_matches("/r/");
    assert!(
        !body.contains(token),
        "the page must not reveal the first registration's link"
    );
    assert_eq!(participant_count(&app).await, 1);

    // The link goes to the address instead.
    let messages = app.outbox_messages(2).await;
    assert_eq!(messages.len(), 2);
    let reminder = messages
        .iter()
        .find(|m| m.contains("Your link for"))
        .expect("a reminder");
    assert!(reminder.contains(&format!("https://rollcall.test{first}")));
}

#[actix_web::test]
async fn a_full_session_is_refused_in_person_and_offered_online() {
    let app = TestApp::spawn().await;
    app.register_ok("one@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("two@example.org", "offline", &["keynote"])
        .await;

    let (_, page) = app.get_html(&format!("/events/{EVENT}")).await;
    assert!(text(&page, ".programme").contains("No in-person seats left"));

    let mut fields = valid_fields("three@example.org", "offline");
    fields.push(("sessions", "keynote"));
    let response = app.register(&fields).await;
    assert_eq!(response.status().as_u16(), 422);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    let message = text(&page, "#sessions-error");
    assert!(
        message.contains("no in-person seats left") && message.contains("Online"),
        "{message}"
    );
    assert_eq!(
        attr(&page, "input[name=email]", "value").as_deref(),
        Some("three@example.org")
    );
    assert_eq!(
        participant_count(&app).await,
        2,
        "the refused registration left nothing behind"
    );

    let mut fields = valid_fields("three@example.org", "online");
    fields.push(("sessions", "keynote"));
    assert_eq!(app.register(&fields).await.status().as_u16(), 303);
}

#[actix_web::test]
async fn concurrent_registrations_never_overbook_a_session() {
    let app = TestApp::spawn().await;
    let emails: Vec<String> = (0..8).map(|i| format!("racer{i}@example.org")).collect();
    let token = app.csrf_token(&format!("/events/{EVENT}")).await;
    let attempts = emails.iter().map(|email| {
        let mut fields = valid_fields(email, "offline");
        fields.push(("sessions", "lab-tour"));
        fields.push(("csrf_token", &token));
        let body = serde_html_form::to_string(&fields).unwrap();
        let request = app
            .client
            .post(app.url(&format!("/events/{EVENT}/register")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        7,
        "{statuses:?}"
    );
}

#[actix_web::test]
async fn a_form_without_a_valid_csrf_token_is_refused_and_kept() {
    let app = TestApp::spawn().await;
    app.csrf_token(&format!("/events/{EVENT}")).await;
    let mut fields = valid_fields("ada@example.org", "offline");
    fields.push(("csrf_token", "forged"));
    let response = app
        .post_form(&format!("/events/{EVENT}/register"), &fields)
        .await;
    assert_eq!(response.status().as_u16(), 403);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(text(&page, ".notice").contains("expired"));
    assert_eq!(
        attr(&page, "input[name=email]", "value").as_deref(),
        Some("ada@example.org")
    );
    assert_eq!(participant_count(&app).await, 0);

    // A client with no cookie at all (a cross-site post) fares the same.
    let stranger = reqwest::Client::new();
    let body = serde_html_form::to_string(valid_fields("eve@example.org", "offline")).unwrap();
    let response = stranger
        .post(app.url(&format!("/events/{EVENT}/register")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(participant_count(&app).await, 0);
}

#[actix_web::test]
async fn a_body_over_the_size_limit_gets_413() {
    let app = TestApp::spawn().await;
    let huge = format!("full_name={}", "a".repeat(200 * 1024));
    let response = app
        .post_raw(
            &format!("/events/{EVENT}/register"),
            "application/x-www-form-urlencoded",
            huge.into_bytes(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 413);
}

#[actix_web::test]
async fn garbage_form_data_is_a_clear_error_never_a_500() {
    let app = TestApp::spawn().await;
    app.csrf_token(&format!("/events/{EVENT}")).await;
    let path = format!("/events/{EVENT}/register");
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "application/x-www-form-urlencoded",
            b"full_name=%ZZ%&&==&email".to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0x00, 0x80, b'=', 0xc3],
        ),
        (
            "application/x-www-form-urlencoded",
            b"full_name=a&full_name=b".to_vec(),
        ),
        ("application/json", br#"{"full_name": "Ada"}"#.to_vec()),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\n\r\n--x--".to_vec(),
        ),
        ("application/x-www-form-urlencoded", b"".to_vec()),
        (
            "application/x-www-form-urlencoded",
            b"sessions=%00%01&country=%F0%9F%98%80".to_vec(),
        ),
    ];
    for (content_type, body) in bodies {
        let response = app.post_raw(&path, content_type, body.clone()).await;
        let status = response.status().as_u16();
        assert!(
            [400, 403, 413, 422].contains(&status),
            "{content_type} {body:?} answered {status}"
        );
    }
    assert_eq!(participant_count(&app).await, 0);
}

#[actix_web::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let response = app.get(&format!("/events/{EVENT}")).await;
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    let cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    // The app's public URL is https, so the cookie is Secure.
    assert!(cookie.contains("Secure"));
}
