use crate::helpers::*;
use serde_json::{json, Value};

/// Two in person (one scanned), one online (joined), one cancelled.
async fn fixture() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("bo@example.org", "offline", &["keynote"])
        .await;
    let cy = app
        .register_ok("cy@example.org", "online", &["keynote"])
        .await;
    let dee = app
        .register_ok("dee@example.org", "online", &["webinar"])
        .await;
    let token = app.csrf_token(&format!("{dee}/cancel")).await;
    app.post_form(&format!("{dee}/cancel"), &[("csrf_token", token.as_str())])
        .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.scan(&door, json!({"code": app.code_of("ada@example.org").await, "session": "keynote", "door": "North"})).await;
    app.get(&format!("{cy}/join/keynote")).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    (app, organiser)
}

async fn csv_of(app: &TestApp, token: &str, name: &str) -> Vec<csv::StringRecord> {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events/{EVENT}/{name}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{name}");
    assert!(response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let bytes = response.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "{name} starts with a BOM"
    );
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[3..]);
    reader.records().map(|r| r.unwrap()).collect()
}

#[actix_web::test]
async fn the_report_shows_totals_no_shows_and_breakdowns() {
    let (app, _) = fixture().await;
    app.create_staff("olga", "organiser", None).await;
    app.login("olga", PASSWORD).await;
    let (status, page) = app.get_html(&format!("/admin/events/{EVENT}/report")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#attended-total"), "2");
    assert_eq!(text(&page, "#attended-offline"), "1");
    assert_eq!(text(&page, "#attended-online"), "1");
    assert_eq!(text(&page, "#registered-total"), "3");
    let totals = text(&page, "#totals");
    assert!(totals.contains("No-shows"));
    assert!(text(&page, "#countries").contains("United Kingdom"));
    assert!(text(&page, "#sessions").contains("Keynote"));
    assert!(text(&page, "#categories").contains("Delegate"));
    assert!(
        count(&page, ".timeline svg rect") >= 1,
        "arrivals over time are drawn"
    );
    assert!(
        count(&page, "script") == 0,
        "the report needs no JavaScript"
    );
}

#[actix_web::test]
async fn csv_exports_parse_back_and_agree_with_the_stats() {
    let (app, organiser) = fixture().await;
    let participants = csv_of(&app, &organiser, "participants.csv").await;
    let header: Vec<&str> = participants[0].iter().collect();
    assert_eq!(
        &header[..8],
        &[
            "name",
            "email",
            "affiliation",
            "country",
            "mode",
            "category",
            "status",
            "checkin_code"
        ]
    );
    assert!(header.contains(&"keynote") && header.contains(&"webinar"));
    assert_eq!(participants.len(), 5, "a header and four people");
    let keynote = header.iter().position(|h| *h == "keynote").unwrap();
    let by_email = |email: &str| {
        participants
            .iter()
            .find(|r| &r[1] == email)
            .unwrap()
            .clone()
    };
    assert_eq!(&by_email("ada@example.org")[keynote], "in person");
    assert_eq!(&by_email("cy@example.org")[keynote], "online");
    assert_eq!(&by_email("bo@example.org")[keynote], "absent");
    assert_eq!(&by_email("dee@example.org")[6], "cancelled");
    assert_eq!(
        by_email("ada@example.org")[7].to_string(),
        app.code_of("ada@example.org").await
    );

    let attendance = csv_of(&app, &organiser, "attendance.csv").await;
    assert_eq!(attendance.len(), 3);
    assert_eq!(&attendance[1][3], "keynote");

    let stats: Value = app.stats(&organiser).await;
    let countries = csv_of(&app, &organiser, "countries.csv").await;
    for (row, country) in countries[1..]
        .iter()
        .zip(stats["by_country"].as_array().unwrap())
    {
        assert_eq!(&row[0], country["code"].as_str().unwrap());
        assert_eq!(
            row[2].parse::<i64>().unwrap(),
            country["registered"].as_i64().unwrap()
        );
        assert_eq!(
            row[3].parse::<i64>().unwrap(),
            country["attended_offline"].as_i64().unwrap()
        );
        assert_eq!(
            row[4].parse::<i64>().unwrap(),
            country["attended_online"].as_i64().unwrap()
        );
    }
    let sessions = csv_of(&app, &organiser, "sessions.csv").await;
    for (row, session) in sessions[1..]
        .iter()
        .zip(stats["by_session"].as_array().unwrap())
    {
        assert_eq!(&row[0], session["slug"].as_str().unwrap());
        assert_eq!(
            row[5].parse::<i64>().unwrap(),
            session["in_person"].as_i64().unwrap()
        );
        assert_eq!(
            row[8].parse::<i64>().unwrap(),
            session["online"].as_i64().unwrap()
        );
    }
    let total: i64 = countries[1..]
        .iter()
        .map(|r| r[5].parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        total,
        stats["attended"]["total"].as_i64().unwrap(),
        "the CSV summary and the stats agree"
    );
}

#[actix_web::test]
async fn cells_that_look_like_formulas_are_neutralised() {
    let app = TestApp::spawn().await;
    let mut fields = valid_fields("eve@example.org", "offline");
    fields[0] = ("full_name", "=HYPERLINK(\"http://evil\")");
    fields[2] = ("affiliation", "@SUM(1+1)");
    assert_eq!(app.register(&fields).await.status().as_u16(), 303);
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let participants = csv_of(&app, &organiser, "participants.csv").await;
    assert_eq!(&participants[1][0], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(&participants[1][2], "'@SUM(1+1)");
}

#[actix_web::test]
async fn exports_need_an_organiser() {
    let app = TestApp::spawn().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    for token in [&door, &screen] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/events/{EVENT}/participants.csv")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
    }
    assert_eq!(
        app.get(&format!("/api/v1/events/{EVENT}/participants.csv"))
            .await
            .status()
            .as_u16(),
        401
    );
}

#[actix_web::test]
async fn the_report_page_opens_with_an_organiser_token_and_no_other() {
    let (app, organiser) = fixture().await;
    let page = |token: String| {
        app.client
            .get(app.url(&format!("/admin/events/{EVENT}/report")))
            .bearer_auth(token)
            .send()
    };
    let response = page(organiser).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert_eq!(text(&html, "#attended-total"), "2");
    for role in ["door", "dashboard"] {
        let token = app.create_token(EVENT, role, &[]).await;
        assert_eq!(page(token).await.unwrap().status().as_u16(), 403, "{role}");
    }
    let response = page("rc_not-a-real-token".into()).await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
}
