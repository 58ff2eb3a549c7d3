use crate::helpers::*;

#[actix_web::test]
async fn healthz_says_the_process_serves_and_readyz_that_the_database_answers() {
    let app = TestApp::spawn_empty().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "ready");
}

#[actix_web::test]
async fn static_files_are_served_from_the_binary() {
    let app = TestApp::spawn_empty().await;
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status().as_u16(), 200);
    assert!(css
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_eq!(app.get("/static/nope.css").await.status().as_u16(), 404);
    assert_eq!(app.get("/no/such/page").await.status().as_u16(), 404);
}

#[actix_web::test]
async fn the_event_list_links_each_event() {
    let app = TestApp::spawn().await;
    let (status, page) = app.get_html("/").await;
    assert_eq!(status, 200);
    assert_eq!(
        attr(&page, ".event-list a", "href").as_deref(),
        Some("/events/test-forum")
    );
}
