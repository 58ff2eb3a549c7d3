use crate::helpers::*;
use diesel::prelude::*;
use rollcall::db::schema::participants;

async fn checkin_code_of(app: &TestApp, email: &'static str) -> String {
    app.db(move |conn| {
        Ok(participants::table
            .filter(participants::email.eq(email))
            .select(participants::checkin_code)
            .first::<String>(conn)?)
    })
    .await
}

#[actix_web::test]
async fn the_qr_png_decodes_to_the_checkin_code() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let response = app.get(&format!("{personal}/qr.png")).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("content-type").unwrap(), "image/png");
    let png = response.bytes().await.unwrap();

    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, checkin_code_of(&app, "ada@example.org").await);
}

#[actix_web::test]
async fn the_two_secrets_differ_and_the_badge_code_does_not_open_the_page() {
    let app = TestApp::spawn().await;
    let personal = app.register_ok("ada@example.org", "offline", &[]).await;
    let page_token = personal.trim_start_matches("/r/").to_string();
    let code = checkin_code_of(&app, "ada@example.org").await;
    assert_ne!(page_token, code);
    assert!(
        code.len() >= 26 && page_token.len() >= 22,
        "both carry at least 128 bits"
    );
    assert!(!code.contains("ada") && !page_token.contains("ada"));

    let (status, _) = app.get_html(&format!("/r/{code}")).await;
    assert_eq!(
        status, 404,
        "a photographed badge must not open the personal page"
    );
}

#[actix_web::test]
async fn the_qr_svg_and_calendar_are_served() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("ada@example.org", "offline", &["keynote", "lab-tour"])
        .await;
    let svg = app.get(&format!("{personal}/qr.svg")).await;
    assert_eq!(svg.headers().get("content-type").unwrap(), "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));

    let ics = app.get(&format!("{personal}/calendar.ics")).await;
    assert_eq!(ics.status().as_u16(), 200);
    assert!(ics
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let body = ics.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR"));
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 2);
    assert!(body.contains("SUMMARY:Keynote"));
    assert!(body.contains("DTSTART:"));
}

#[actix_web::test]
async fn unknown_or_malformed_tokens_are_404_pages() {
    let app = TestApp::spawn().await;
    for path in [
        "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/r/short",
        "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/qr.png",
        "/r/%2e%2e%2fetc%2fpasswd",
        "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/cancel",
    ] {
        let (status, page) = app.get_html(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(text(&page, "h1").contains("Not found"), "{path}");
    }
}

#[actix_web::test]
async fn cancelling_asks_first_then_frees_the_seat_and_retires_the_code() {
    let app = TestApp::spawn().await;
    let personal = app
        .register_ok("first@example.org", "offline", &["lab-tour"])
        .await;

    let (status, confirm) = app.get_html(&format!("{personal}/cancel")).await;
    assert_eq!(status, 200);
    assert!(text(&confirm, "h1").contains("Cancel your registration?"));
    let token = attr(&confirm, "input[name=csrf_token]", "value").unwrap();

    // Without the token nothing happens.
    let refused = app.post_form(&format!("{personal}/cancel"), &[]).await;
    assert_eq!(refused.status().as_u16(), 403);
    let (_, page) = app.get_html(&personal).await;
    assert_eq!(count(&page, ".ticket-qr svg"), 1);

    let response = app
        .post_form(&format!("{personal}/cancel"), &[("csrf_token", &token)])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(location(&response), personal);

    let (status, page) = app.get_html(&personal).await;
    assert_eq!(status, 200);
    assert!(text(&page, ".notice").contains("cancelled"));
    assert_eq!(count(&page, ".ticket-qr svg"), 0);
    assert_eq!(
        app.get(&format!("{personal}/qr.png"))
            .await
            .status()
            .as_u16(),
        404
    );

    // The only lab-tour seat is free again, and the same address may register anew.
    app.register_ok("second@example.org", "offline", &["lab-tour"])
        .await;
    app.register_ok("first@example.org", "online", &["webinar"])
        .await;
}

#[actix_web::test]
async fn the_personal_page_is_not_cached() {
    let app = TestApp::spawn().await;
    let personal = app.register_ok("ada@example.org", "offline", &[]).await;
    let response = app.get(&personal).await;
    assert_eq!(
        response.headers().get("cache-control").unwrap(),
        "private, no-store"
    );
}
