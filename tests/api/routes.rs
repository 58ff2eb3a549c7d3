//! The route table walked with every kind of caller. Each route is listed
//! here with who may use it; a route added to src/web/mod.rs without a line
//! here fails the first test, so no route escapes the walk.

use crate::helpers::*;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    DoorStaff,
    OrganiserStaff,
    Admin,
    DoorToken,
    DashboardToken,
    OrganiserToken,
}
use Caller::*;

const EVERYONE: &[Caller] = &[
    Anonymous,
    DoorStaff,
    OrganiserStaff,
    Admin,
    DoorToken,
    DashboardToken,
    OrganiserToken,
];
const STAFF: &[Caller] = &[DoorStaff, OrganiserStaff, Admin];
const ORGANISERS: &[Caller] = &[OrganiserStaff, Admin];
const SCANNERS: &[Caller] = &[DoorStaff, OrganiserStaff, Admin, DoorToken, OrganiserToken];
const LIVE: &[Caller] = &[OrganiserStaff, Admin, DashboardToken, OrganiserToken];
const REPORTS: &[Caller] = &[OrganiserStaff, Admin, OrganiserToken];
/// Only the metrics token, which none of the callers hold.
const NOBODY: &[Caller] = &[];

/// (method, scope, path as written in src/web/mod.rs, who may).
const ROUTES: &[(&str, &str, &str, &[Caller])] = &[
    ("GET", "", "/healthz", EVERYONE),
    ("GET", "", "/readyz", EVERYONE),
    ("GET", "", "/metrics", NOBODY),
    ("GET", "", "/static/{path:.*}", EVERYONE),
    ("GET", "", "/", EVERYONE),
    ("GET", "", "/events/{slug}", EVERYONE),
    ("POST", "", "/events/{slug}/register", EVERYONE),
    // Personal links: the token in the URL is the credential.
    ("GET", "", "/r/{token}", EVERYONE),
    ("GET", "", "/r/{token}/qr.svg", EVERYONE),
    ("GET", "", "/r/{token}/qr.png", EVERYONE),
    ("GET", "", "/r/{token}/calendar.ics", EVERYONE),
    ("GET", "", "/r/{token}/cancel", EVERYONE),
    ("POST", "", "/r/{token}/cancel", EVERYONE),
    ("GET", "", "/r/{token}/erase", EVERYONE),
    ("POST", "", "/r/{token}/erase", EVERYONE),
    ("GET", "", "/r/{token}/join/{session}", EVERYONE),
    ("GET", "", "/r/{token}/watch/{session}", EVERYONE),
    ("GET", "", "/ws/watch/{token}/{session}", EVERYONE),
    ("GET", "", "/ws/events/{event}/live", LIVE),
    // Shells whose token travels in the URL fragment, checked by the API.
    ("GET", "", "/screen/{event}", EVERYONE),
    ("GET", "", "/scan/{event}/device", EVERYONE),
    ("GET", "", "/scan/{event}", STAFF),
    ("GET", "/admin", "", STAFF),
    ("POST", "/admin", "/events", ORGANISERS),
    ("GET", "/admin", "/events/new", ORGANISERS),
    ("GET", "/admin", "/events/{event}", ORGANISERS),
    ("GET", "/admin", "/events/{event}/edit", ORGANISERS),
    ("POST", "/admin", "/events/{event}/edit", ORGANISERS),
    ("POST", "/admin", "/events/{event}/sessions", ORGANISERS),
    ("GET", "/admin", "/events/{event}/sessions/new", ORGANISERS),
    ("GET", "/admin", "/events/{event}/sessions/{id}", ORGANISERS),
    (
        "POST",
        "/admin",
        "/events/{event}/sessions/{id}",
        ORGANISERS,
    ),
    ("GET", "/admin", "/events/{event}/participants", ORGANISERS),
    ("GET", "/admin", "/events/{event}/import", ORGANISERS),
    ("POST", "/admin", "/events/{event}/import", ORGANISERS),
    (
        "GET",
        "/admin",
        "/events/{event}/participants/{id}",
        ORGANISERS,
    ),
    (
        "POST",
        "/admin",
        "/events/{event}/participants/{id}",
        ORGANISERS,
    ),
    (
        "POST",
        "/admin",
        "/events/{event}/participants/{id}/cancel",
        ORGANISERS,
    ),
    ("POST", "/admin", "/events/{event}/tokens", ORGANISERS),
    ("POST", "/admin", "/events/{event}/purge", ORGANISERS),
    (
        "POST",
        "/admin",
        "/events/{event}/tokens/{id}/revoke",
        ORGANISERS,
    ),
    ("GET", "/admin", "/events/{event}/live", ORGANISERS),
    ("GET", "/admin", "/events/{event}/report", REPORTS),
    ("GET", "/admin", "/events/{event}/checkins", ORGANISERS),
    (
        "POST",
        "/admin",
        "/events/{event}/checkins/undo",
        ORGANISERS,
    ),
    ("GET", "", "/login", EVERYONE),
    ("POST", "", "/login", EVERYONE),
    ("POST", "/api/v1/events/{event}", "/checkins", SCANNERS),
    ("POST", "/api/v1/events/{event}", "/checkins/undo", REPORTS),
    ("GET", "/api/v1/events/{event}", "/door", SCANNERS),
    ("GET", "/api/v1/events/{event}", "/participants", SCANNERS),
    ("GET", "/api/v1/events/{event}", "/stats", LIVE),
    ("POST", "/api/v1/events/{event}", "/live/ticket", LIVE),
    (
        "GET",
        "/api/v1/events/{event}",
        "/participants.csv",
        REPORTS,
    ),
    ("GET", "/api/v1/events/{event}", "/attendance.csv", REPORTS),
    ("GET", "/api/v1/events/{event}", "/countries.csv", REPORTS),
    ("GET", "/api/v1/events/{event}", "/sessions.csv", REPORTS),
    // Last: it ends the walker's session.
    ("POST", "", "/logout", EVERYONE),
];

/// Every `.route("PATH", web::METHOD()` in src/web/mod.rs.
fn declared_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/web/mod.rs");
    let squashed: String = source.split_whitespace().collect::<Vec<_>>().join("");
    let mut found = BTreeSet::new();
    for piece in squashed.split(".route(\"").skip(1) {
        let Some((path, rest)) = piece.split_once('"') else {
            continue;
        };
        let method = if rest.starts_with(",web::get()") {
            "GET"
        } else if rest.starts_with(",web::post()") {
            "POST"
        } else {
            panic!("a route with a method this test doesn't know: {path} {rest:.30}")
        };
        found.insert((method.to_string(), path.to_string()));
    }
    found
}

#[test]
fn every_declared_route_is_in_the_walk() {
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, _, path, _)| (method.to_string(), path.to_string()))
        .collect();
    let declared = declared_routes();
    let missing: Vec<_> = declared.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "routes with no access rule in tests/api/routes.rs: {missing:?}"
    );
    assert!(stale.is_empty(), "listed here but not served: {stale:?}");
}

/// Whether the answer refuses the caller: 401, 403, or off to sign in.
fn refused(response: &reqwest::Response) -> bool {
    let status = response.status().as_u16();
    status == 401
        || status == 403
        || (status == 303
            && response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/login")))
}

async fn app_for(caller: Caller) -> (TestApp, Option<String>) {
    let app = TestApp::spawn().await;
    let staff = |role: &'static str| {
        let app = &app;
        async move {
            app.create_staff("walker", role, None).await;
            assert_eq!(app.login("walker", PASSWORD).await.status().as_u16(), 303);
        }
    };
    let token = match caller {
        Anonymous => None,
        DoorStaff => {
            staff("door").await;
            None
        }
        OrganiserStaff => {
            staff("organiser").await;
            None
        }
        Admin => {
            staff("admin").await;
            None
        }
        DoorToken => Some(app.create_token(EVENT, "door", &[]).await),
        DashboardToken => Some(app.create_token(EVENT, "dashboard", &[]).await),
        OrganiserToken => Some(app.create_token(EVENT, "organiser", &[]).await),
    };
    (app, token)
}

#[actix_web::test]
async fn every_route_refuses_whoever_may_not_use_it() {
    for caller in EVERYONE.iter().copied() {
        let (app, token) = app_for(caller).await;
        let page = app
            .register_ok("walk@example.org", "online", &["keynote"])
            .await;
        let personal = page.trim_start_matches("/r/").to_string();
        let csrf = app.csrf_token(&format!("/events/{EVENT}")).await;
        for (method, scope, path, allowed) in ROUTES {
            let full = format!("{scope}{path}")
                .replace("{event}", EVENT)
                .replace("{slug}", EVENT)
                .replace("{token}", &personal)
                .replace("{session}", "keynote")
                .replace("{id}", "1")
                .replace("{path:.*}", "app.css");
            let mut request = match *method {
                "GET" => app.client.get(app.url(&full)),
                // A well-formed body, so the answer is about who asks.
                _ if scope.starts_with("/api") => app
                    .client
                    .post(app.url(&full))
                    .header("x-csrf-token", &csrf)
                    .json(&serde_json::json!({"participant_id": 1, "session": "keynote"})),
                _ => app
                    .client
                    .post(app.url(&full))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-csrf-token", &csrf)
                    .body(format!("csrf_token={csrf}")),
            };
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert!(status < 500, "{caller:?} {method} {full}: {status}");
            if !allowed.contains(&caller) {
                assert!(
                    refused(&response),
                    "{caller:?} must be refused on {method} {full}, got {status}"
                );
            } else if *method == "GET" {
                assert!(
                    !refused(&response),
                    "{caller:?} may use {method} {full}, got {status}"
                );
            }
        }
    }
}
