//! Hostile input: random and malformed data into every parser of outside
//! input, straight and through HTTP. Nothing may panic, and no request may
//! be answered 500. Case counts are bounded for CI; raise them with
//! `ROLLCALL_FUZZ_CASES` (see docs/SECURITY.md) for a longer run.

use crate::helpers::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use rollcall::domain::{self, import, CheckinCode, Country, Email, PageToken};

fn cases(default: u32) -> u32 {
    std::env::var("ROLLCALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Text people and attackers send: any Unicode, control characters,
/// separators, near-valid shapes.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Z2-7]{20,30}",
        "[a-zA-Z0-9_-]{40,46}",
        "[ -~]{0,80}",
        "(=|\\+|-|@|\t|\r)[ -~]{0,20}",
        "[a-z]{1,10}@[a-z]{1,10}(\\.[a-z]{2,3})?",
    ]
}

proptest! {
    #![proptest_config(Config::with_cases(cases(2000)))]

    #[test]
    fn domain_parsers_never_panic(raw in hostile_text()) {
        let _ = CheckinCode::parse(&raw);
        let _ = PageToken::parse(&raw);
        let _ = Email::parse(&raw);
        let _ = Country::parse(&raw);
        let _ = Country::parse_code_or_name(&raw);
        let _ = domain::PersonName::parse(&raw);
        let _ = domain::Affiliation::parse(&raw);
        let _ = domain::AttendanceMode::parse_lenient(&raw);
        let _ = domain::Category::parse_lenient(&raw);
        let _ = domain::programme::parse_slug(&raw);
        let _ = domain::programme::parse_local_time(&raw, chrono_tz::Europe::Berlin);
    }

    #[test]
    fn a_valid_code_survives_what_scanners_do_to_it(lower in any::<bool>(), pad in "[ \t\r\n]{0,3}") {
        let code = CheckinCode::generate();
        let typed = if lower { code.as_str().to_lowercase() } else { code.as_str().to_string() };
        let parsed = CheckinCode::parse(&format!("{pad}{typed}{pad}")).unwrap();
        prop_assert_eq!(parsed.as_str(), code.as_str());
    }

    #[test]
    fn csv_imports_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = import::parse_participants(&bytes, &[]);
    }

    #[test]
    fn csv_imports_with_a_good_header_never_panic(rows in proptest::collection::vec(
        proptest::collection::vec(hostile_text(), 0..9), 0..20)) {
        let mut file = String::from("name,email,affiliation,country,mode,category,sessions\n");
        for row in rows {
            file.push_str(&row.join(","));
            file.push('\n');
        }
        let _ = import::parse_participants(file.as_bytes(), &[]);
    }
}

/// Values from a strategy, outside proptest's macro (the HTTP tests are async).
fn samples<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, n: u32) -> Vec<T> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        hostile_text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::hash_map(
                prop_oneof![
                    Just("code".to_string()),
                    Just("session".to_string()),
                    Just("door".to_string()),
                    Just("scan_id".to_string()),
                    Just("participant_id".to_string()),
                    hostile_text()
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[actix_web::test]
async fn the_checkin_api_answers_every_body_without_a_500() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let path = format!("/api/v1/events/{EVENT}/checkins");
    let n = cases(150);
    let bodies: Vec<Vec<u8>> = samples(json_value(), n)
        .into_iter()
        .map(|v| serde_json::to_vec(&v).unwrap())
        .chain(samples(proptest::collection::vec(any::<u8>(), 0..300), n))
        .collect();
    for body in bodies {
        let response = app
            .client
            .post(app.url(&path))
            .bearer_auth(&door)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status < 500,
            "{status} for {:?}",
            String::from_utf8_lossy(&body)
        );
        let answer: serde_json::Value = response.json().await.expect("a JSON answer");
        assert!(
            answer.get("status").is_some() || answer.get("error").is_some(),
            "{answer}"
        );
    }
}

#[actix_web::test]
async fn forms_links_and_queries_answer_hostile_input_without_a_500() {
    let app = TestApp::spawn().await;
    let token = app.csrf_token(&format!("/events/{EVENT}")).await;
    let n = cases(100);
    let fields = [
        "full_name",
        "email",
        "affiliation",
        "country",
        "mode",
        "category",
        "sessions",
        "consent",
    ];
    for values in samples(proptest::collection::vec(hostile_text(), 8), n) {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        form.extend(
            fields
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str)),
        );
        let status = app
            .post_form(&format!("/events/{EVENT}/register"), &form)
            .await
            .status()
            .as_u16();
        assert!(status < 500, "{status} for {form:?}");
    }
    for raw in samples(proptest::collection::vec(any::<u8>(), 0..400), n) {
        let status = app
            .post_raw(
                &format!("/events/{EVENT}/register"),
                "application/x-www-form-urlencoded",
                raw.clone(),
            )
            .await
            .status()
            .as_u16();
        assert!(status < 500, "{status} for {raw:?}");
    }
    app.create_staff("olga", "organiser", None).await;
    app.login("olga", PASSWORD).await;
    let event_fields = [
        "slug",
        "title",
        "description",
        "venue",
        "timezone",
        "starts_at",
        "ends_at",
        "checkin_grace_minutes",
    ];
    for values in samples(proptest::collection::vec(hostile_text(), 8), n) {
        let token = app.csrf_token("/admin/events/new").await;
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        form.extend(
            event_fields
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str)),
        );
        for path in ["/admin/events", "/admin/events/test-forum/edit"] {
            let status = app.post_form(path, &form).await.status().as_u16();
            assert!(status < 500, "{path} {status} for {form:?}");
        }
    }
    for text in samples(hostile_text(), n) {
        let escaped: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        for path in [
            format!("/r/{escaped}"),
            format!("/r/{escaped}/join/keynote"),
            format!("/events/{escaped}"),
            format!("/admin/events/{EVENT}/participants?q={escaped}"),
            format!("/login?next={escaped}"),
            format!("/api/v1/events/{EVENT}/participants?q={escaped}"),
        ] {
            let status = app.get(&path).await.status().as_u16();
            assert!(status < 500, "{status} for {path}");
        }
    }
    // Last: failed sign-ins get this address throttled (429), by design.
    for values in samples(proptest::collection::vec(hostile_text(), 3), n) {
        let login = app.csrf_token("/login").await;
        let status = app
            .post_form(
                "/login",
                &[
                    ("csrf_token", login.as_str()),
                    ("username", &values[0]),
                    ("password", &values[1]),
                    ("next", &values[2]),
                ],
            )
            .await
            .status()
            .as_u16();
        assert!(status < 500, "login {status} for {values:?}");
    }
}

/// Random frames into both kinds of socket: the server keeps serving (a
/// socket may be closed for bad input, never the process), and a fresh
/// dashboard still gets its snapshot.
#[actix_web::test]
async fn websockets_survive_random_frames() {
    use actix_codec::Framed;
    use awc::ws::{Codec, Frame, Message};
    use futures_util::{SinkExt, StreamExt};
    type Socket = Framed<awc::BoxedSocket, Codec>;

    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let page = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    app.open_all_doors().await;
    let watch = format!("/ws/watch/{}/keynote", page.trim_start_matches("/r/"));
    let dashboard = || {
        awc::Client::new()
            .ws(app.url(&format!("/ws/events/{EVENT}/live")))
            .bearer_auth(&screen)
    };
    let n = cases(60);
    let texts = samples(hostile_text(), n);
    let blobs = samples(proptest::collection::vec(any::<u8>(), 0..2048), n);
    for (i, (text, blob)) in texts.into_iter().zip(blobs).enumerate() {
        let request = if i % 2 == 0 {
            dashboard()
        } else {
            awc::Client::new().ws(app.url(&watch))
        };
        let (_, mut socket): (_, Socket) = request.connect().await.expect("handshake");
        // Whatever comes of it, the send may fail once the server closed.
        let _ = socket.send(Message::Text(text.into())).await;
        let _ = socket.send(Message::Binary(blob.into())).await;
        let _ = socket
            .send(Message::Text("x".repeat(8 * 1024).into()))
            .await;
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), socket.next()).await;
    }
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
    let (_, mut socket): (_, Socket) = dashboard().connect().await.unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .expect("a snapshot in time")
        .expect("the socket is open")
        .expect("a valid frame");
    match first {
        Frame::Text(bytes) => {
            let snapshot: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(snapshot["type"], "snapshot");
        }
        other => panic!("expected the snapshot, got {other:?}"),
    }
}
