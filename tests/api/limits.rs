//! Rate limits per client address: registrations, and personal links that
//! lead nowhere (guessing).

use crate::helpers::*;
use rollcall::web::limits::RateLimitConfig;

#[actix_web::test]
async fn a_flood_of_registrations_from_one_address_waits_with_the_form_kept() {
    let app = TestApp::spawn_with_limits(RateLimitConfig {
        registrations_per_minute: 3,
        failed_lookups_per_minute: 100,
        ..Default::default()
    })
    .await;
    for i in 0..3 {
        app.register_ok(&format!("p{i}@example.org"), "offline", &[])
            .await;
    }
    let response = app
        .register(&valid_fields("late@example.org", "offline"))
        .await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(text(&page, "[role=alert]").contains("wait a minute"));
    assert_eq!(
        attr(&page, "#email", "value").as_deref(),
        Some("late@example.org"),
        "what was typed is kept"
    );
}

#[actix_web::test]
async fn guessing_personal_links_gets_an_address_refused_and_no_one_else() {
    let app = TestApp::spawn_with_limits(RateLimitConfig {
        registrations_per_minute: 100,
        failed_lookups_per_minute: 5,
        ..Default::default()
    })
    .await;
    let page = app.register_ok("ada@example.org", "offline", &[]).await;
    // Real pages cost nothing, however often they are opened.
    for _ in 0..20 {
        assert_eq!(app.get(&page).await.status().as_u16(), 200);
    }
    let guess = |n: u32| format!("/r/{}", "A".repeat(42) + &format!("{n:01}"));
    for n in 0..6 {
        assert_eq!(app.get(&guess(n)).await.status().as_u16(), 404);
    }
    let refused = app.get(&guess(7)).await;
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        app.get(&page).await.status().as_u16(),
        429,
        "the guessing address is refused everywhere under /r/"
    );
    assert_eq!(
        app.get(&format!("/events/{EVENT}")).await.status().as_u16(),
        200,
        "the rest of the site still works for it"
    );

    // Another address (127.0.0.2 reaches the same server) is not affected.
    let neighbour = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let response = neighbour.get(app.url(&page)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// GET as a client behind a proxy that says who it is in X-Forwarded-For.
async fn get_forwarded(app: &TestApp, path: &str, forwarded_for: &str) -> u16 {
    app.client
        .get(app.url(path))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_client_is_limited_on_its_own() {
    let app = TestApp::spawn_with_limits(RateLimitConfig {
        registrations_per_minute: 100,
        failed_lookups_per_minute: 3,
        trusted_proxies: vec![std::net::IpAddr::from([127, 0, 0, 1])],
    })
    .await;
    let page = app.register_ok("ada@example.org", "offline", &[]).await;
    let nowhere = format!("/r/{}", "B".repeat(43));
    for _ in 0..4 {
        assert_eq!(get_forwarded(&app, &nowhere, "203.0.113.5").await, 404);
    }
    assert_eq!(
        get_forwarded(&app, &page, "203.0.113.5").await,
        429,
        "the guessing client is refused"
    );
    assert_eq!(
        get_forwarded(&app, &page, "203.0.113.6").await,
        200,
        "another client behind the same proxy is not"
    );
    assert_eq!(
        get_forwarded(&app, &page, "198.51.100.1, 203.0.113.5").await,
        429,
        "what a client writes into the header itself does not get it out"
    );
}

#[actix_web::test]
async fn a_forwarded_header_from_anyone_else_is_ignored() {
    let app = TestApp::spawn_with_limits(RateLimitConfig {
        registrations_per_minute: 100,
        failed_lookups_per_minute: 3,
        ..Default::default()
    })
    .await;
    let page = app.register_ok("ada@example.org", "offline", &[]).await;
    let nowhere = format!("/r/{}", "C".repeat(43));
    for n in 0..4 {
        let claimed = format!("203.0.113.{n}");
        assert_eq!(get_forwarded(&app, &nowhere, &claimed).await, 404);
    }
    assert_eq!(
        get_forwarded(&app, &page, "203.0.113.99").await,
        429,
        "a new X-Forwarded-For on every guess does not dodge the limit"
    );
}
