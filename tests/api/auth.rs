use crate::helpers::*;

#[actix_web::test]
async fn staff_sign_in_with_the_right_password_only() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;

    let wrong = app.login("olga", "not the password").await;
    assert_eq!(wrong.status().as_u16(), 401);
    let wrong_body = wrong.text().await.unwrap();
    let unknown = app.login("nobody", "not the password").await;
    assert_eq!(unknown.status().as_u16(), 401);
    let unknown_body = unknown.text().await.unwrap();
    let message = |body: &str| text(&scraper::Html::parse_document(body), ".notice");
    assert_eq!(
        message(&wrong_body),
        message(&unknown_body),
        "no user enumeration"
    );
    assert!(message(&wrong_body).contains("Wrong username or password"));

    let ok = app.login("olga", PASSWORD).await;
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(location(&ok), "/admin");
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("rollcall_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure")
    );
}

#[actix_web::test]
async fn sign_in_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    app.get("/login").await;
    let response = app
        .post_form(
            "/login",
            &[
                ("username", "olga"),
                ("password", PASSWORD),
                ("csrf_token", "x"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
}

#[actix_web::test]
async fn repeated_failures_are_throttled_with_a_retry_time() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("olga", "wrong password!").await.status().as_u16(),
            401
        );
    }
    let throttled = app.login("olga", PASSWORD).await;
    assert_eq!(
        throttled.status().as_u16(),
        429,
        "even the right password waits"
    );
    let retry_after: u64 = throttled
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
}

#[actix_web::test]
async fn a_signed_in_door_user_scans_with_the_page_csrf_header() {
    let app = TestApp::spawn().await;
    app.create_staff("door1", "door", Some(EVENT)).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    assert_eq!(app.login("door1", PASSWORD).await.status().as_u16(), 303);
    let path = format!("/api/v1/events/{EVENT}/checkins");
    let body = serde_json::json!({"code": code, "session": "keynote"});

    let without = app
        .client
        .post(app.url(&path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        without.status().as_u16(),
        403,
        "cookie auth needs the CSRF header"
    );

    let (status, page) = app.get_html(&format!("/scan/{EVENT}")).await;
    assert_eq!(status, 200, "door staff open the scan page");
    let token = attr(&page, "meta[name=csrf-token]", "content").unwrap();
    let with = app
        .client
        .post(app.url(&path))
        .header("x-csrf-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status().as_u16(), 200);
    let answer: serde_json::Value = with.json().await.unwrap();
    assert_eq!(answer["status"], "accepted");
}

#[actix_web::test]
async fn the_scan_page_needs_a_sign_in_and_the_right_event() {
    let app = TestApp::spawn().await;
    let response = app.get(&format!("/scan/{EVENT}")).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), "/login?next=%2Fscan%2Ftest%2Dforum");

    app.create_other_event("elsewhere").await;
    app.create_staff("door1", "door", Some(EVENT)).await;
    app.login("door1", PASSWORD).await;
    assert_eq!(
        app.get(&format!("/scan/{EVENT}")).await.status().as_u16(),
        200
    );
    assert_eq!(
        app.get("/scan/elsewhere").await.status().as_u16(),
        403,
        "a door account is bound to its event"
    );
}
