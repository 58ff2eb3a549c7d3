//! /metrics for Prometheus: behind its own bearer token.

use crate::helpers::*;
use serde_json::json;

pub(crate) async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[actix_web::test]
async fn metrics_count_requests_checkins_and_sockets_for_the_token_holder_only() {
    let app = TestApp::spawn().await;
    assert_eq!(scrape(&app, None).await.0, 401);
    assert_eq!(scrape(&app, Some("not-the-token")).await.0, 401);
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    assert_eq!(
        scrape(&app, Some(&organiser)).await.0,
        401,
        "a device token is not the metrics token"
    );

    let page = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.get(&page).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let code = app.code_of("ada@example.org").await;
    app.scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    app.scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    app.scan(&door, json!({"code": "nonsense", "session": "keynote"}))
        .await;
    let lost = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status().as_u16(), 404);

    let (status, text) = scrape(&app, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(
            &text,
            r#"rollcall_checkins_total{outcome="accepted",reason=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"rollcall_checkins_total{outcome="duplicate",reason=""}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"rollcall_checkins_total{outcome="rejected",reason="unknown_code"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"rollcall_http_requests_total{route="/r/{token}",status="200"}"#
        ),
        Some(1.0),
        "routes are counted by pattern: {text}"
    );
    assert_eq!(
        value(
            &text,
            r#"rollcall_http_requests_total{route="/api/v1/events/{event}/checkins",status="200"}"#
        ),
        Some(3.0),
        "a route inside a scope is counted by its whole pattern: {text}"
    );
    assert_eq!(
        value(
            &text,
            r#"rollcall_http_requests_total{route="unmatched",status="404"}"#
        ),
        Some(1.0),
        "a path no route matches is counted as unmatched: {text}"
    );
    assert!(
        !text.contains(page.trim_start_matches("/r/")),
        "no personal token in metrics"
    );
    assert!(value(&text, "rollcall_db_pool_connections").unwrap() >= 1.0);
    assert_eq!(value(&text, "rollcall_live_dashboard_sockets"), Some(0.0));
    assert!(value(&text, r#"rollcall_mail_messages_total{fate="queued"}"#).unwrap() >= 1.0);
}
