use crate::helpers::*;
use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;

type Socket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

async fn connect(app: &TestApp, token: Option<&str>, query: &str) -> Result<Socket, u16> {
    let mut request = awc::Client::new().ws(app.url(&format!("/ws/events/{EVENT}/live{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.connect().await {
        Ok((_, socket)) => Ok(socket),
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// The next JSON message, skipping pings; panics after `wait`.
async fn next_json(socket: &mut Socket, wait: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket stays open")
            .expect("a valid frame");
        match frame {
            Frame::Text(bytes) => return serde_json::from_slice(&bytes).unwrap(),
            Frame::Ping(bytes) => socket.send(Message::Pong(bytes)).await.unwrap(),
            Frame::Close(reason) => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

const WAIT: Duration = Duration::from_secs(5);

/// The next update that carries `field` (a minute boundary may slide the
/// arrivals chart in between).
async fn update_carrying(socket: &mut Socket, field: &str) -> Value {
    loop {
        let update = next_json(socket, WAIT).await;
        assert_eq!(update["type"], "update");
        if update.get(field).is_some() {
            return update;
        }
    }
}

/// The snapshot without its envelope, comparable with the stats API.
fn numbers(mut snapshot: Value) -> Value {
    let object = snapshot.as_object_mut().unwrap();
    object.remove("type");
    object.remove("seq");
    snapshot
}

#[actix_web::test]
async fn sockets_without_the_right_credentials_are_refused_before_the_upgrade() {
    let app = TestApp::spawn().await;
    assert_eq!(connect(&app, None, "").await.err(), Some(401));
    assert_eq!(
        connect(&app, Some("rc_nonsense"), "").await.err(),
        Some(401)
    );
    let door = app.create_token(EVENT, "door", &[]).await;
    assert_eq!(connect(&app, Some(&door), "").await.err(), Some(403));
    assert_eq!(
        connect(&app, None, "?ticket=7.99999999999999.AAAA")
            .await
            .err(),
        Some(401)
    );
}

#[actix_web::test]
async fn the_first_message_is_a_snapshot_equal_to_the_stats_api() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("bo@example.org", "online", &["webinar"])
        .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.scan(&door, json!({"code": app.code_of("ada@example.org").await, "session": "keynote", "door": "North"})).await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;

    let mut socket = connect(&app, Some(&screen), "").await.unwrap();
    let snapshot = next_json(&mut socket, WAIT).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert!(snapshot["seq"].is_u64());
    assert_eq!(
        snapshot["registered"],
        json!({"offline": 1, "online": 1, "total": 2})
    );
    assert_eq!(
        snapshot["attended"],
        json!({"offline": 1, "online": 0, "total": 1})
    );
    assert_eq!(snapshot["recent"][0]["name"], "Ada Lovelace");
    assert!(
        snapshot["recent"][0].get("email").is_none()
            && !snapshot.to_string().contains("ada@example.org")
    );
    assert_eq!(
        snapshot["arrivals_per_minute"].as_array().unwrap().len(),
        60
    );
    let keynote = snapshot["by_session"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "keynote")
        .unwrap()
        .clone();
    assert_eq!(
        (
            keynote["in_person"].as_i64(),
            keynote["capacity_offline"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(numbers(snapshot), app.stats(&screen).await);
}

#[actix_web::test]
async fn scans_and_undos_arrive_as_numbered_updates() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let mut socket = connect(&app, Some(&organiser), "").await.unwrap();
    let snapshot = next_json(&mut socket, WAIT).await;
    let seq = snapshot["seq"].as_u64().unwrap();

    let (_, answer) = app
        .scan(
            &door,
            json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
        )
        .await;
    let update = next_json(&mut socket, WAIT).await;
    assert_eq!(update["type"], "update");
    assert_eq!(
        update["seq"].as_u64(),
        Some(seq + 1),
        "seq increases by one"
    );
    assert_eq!(
        update["since"].as_u64(),
        Some(seq),
        "it changes the snapshot"
    );
    assert_eq!(update["attended"]["offline"], 1);
    assert_eq!(update["by_country"][0]["code"], "GB");
    assert_eq!(update["recent_added"][0]["name"], "Ada Lovelace");
    assert_eq!(update["recent_added"].as_array().unwrap().len(), 1);
    assert!(update.get("registered").is_none(), "only what changed");
    assert_eq!(
        update["arrivals_per_minute"].as_array().unwrap().len(),
        1,
        "only the minute that changed: {update}"
    );

    app.undo(&organiser, answer["participant"]["id"].clone(), "keynote")
        .await;
    let update = next_json(&mut socket, WAIT).await;
    assert_eq!(update["seq"].as_u64(), Some(seq + 2));
    assert_eq!(update["since"].as_u64(), Some(seq + 1));
    assert_eq!(update["attended"]["total"], 0);

    // A registration moves the registered totals too (the undone name may
    // leave the recent list in an update of its own, up to a second later).
    app.register_ok("cy@example.org", "online", &["webinar"])
        .await;
    let mut expected = seq + 3;
    loop {
        let update = next_json(&mut socket, WAIT).await;
        assert_eq!(update["seq"].as_u64(), Some(expected));
        if update.get("registered").is_some() {
            assert_eq!(update["registered"]["online"], 1);
            break;
        }
        expected += 1;
    }
}

/// Applies an update by the merge rules of docs/live-protocol.md.
fn merge(state: &mut Value, update: &Value) {
    assert_eq!(update["type"], "update");
    assert_eq!(
        update["since"], state["seq"],
        "an update changes the numbers the dashboard holds"
    );
    assert!(update["seq"].as_u64() > state["seq"].as_u64());
    state["seq"] = update["seq"].clone();
    for key in ["registered", "attended", "no_shows", "cancelled", "recent"] {
        if let Some(value) = update.get(key) {
            state[key] = value.clone();
        }
    }
    for (key, id) in [
        ("by_category", "category"),
        ("by_country", "code"),
        ("by_session", "slug"),
        ("arrivals_per_minute", "minute"),
    ] {
        let Some(changed) = update.get(key).and_then(Value::as_array) else {
            continue;
        };
        let list = state[key].as_array_mut().unwrap();
        for item in changed {
            match list.iter_mut().find(|x| x[id] == item[id]) {
                Some(x) => *x = item.clone(),
                None => list.push(item.clone()),
            }
        }
    }
    let hour = state["arrivals_per_minute"].as_array_mut().unwrap();
    hour.sort_by(|a, b| a["minute"].as_str().cmp(&b["minute"].as_str()));
    let older = hour.len().saturating_sub(60);
    hour.drain(..older);
    if let Some(added) = update.get("recent_added").and_then(Value::as_array) {
        let mut recent = added.clone();
        recent.extend(state["recent"].as_array().unwrap().iter().cloned());
        recent.truncate(20);
        state["recent"] = Value::Array(recent);
    }
}

/// Merges every update until the socket has been quiet for two seconds,
/// noting which kinds of list change arrived.
async fn merge_until_quiet(
    socket: &mut Socket,
    state: &mut Value,
    kinds: &mut std::collections::HashSet<&'static str>,
) {
    while let Ok(frame) = tokio::time::timeout(Duration::from_secs(2), socket.next()).await {
        match frame.expect("open").expect("a valid frame") {
            Frame::Text(bytes) => {
                let update: Value = serde_json::from_slice(&bytes).unwrap();
                for kind in ["recent_added", "recent", "arrivals_per_minute"] {
                    if update.get(kind).is_some() {
                        kinds.insert(kind);
                    }
                }
                merge(state, &update);
            }
            Frame::Ping(bytes) => socket.send(Message::Pong(bytes)).await.unwrap(),
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A client that merges updates by the documented rules ends with the
/// numbers of the stats API: through single and several check-ins per
/// update, more than the recent list holds, and an undo.
#[actix_web::test]
async fn merging_updates_by_the_documented_rules_gives_the_stats_api_numbers() {
    let app = TestApp::spawn().await;
    app.lift_capacities().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let mut codes = Vec::new();
    for i in 0..24 {
        let email = format!("m{i}@example.org");
        app.register_ok(&email, "offline", &["keynote"]).await;
        codes.push(app.code_of(&email).await);
    }
    let mut socket = connect(&app, Some(&organiser), "").await.unwrap();
    let mut state = next_json(&mut socket, WAIT).await;
    assert_eq!(state["type"], "snapshot");
    let mut kinds = std::collections::HashSet::new();
    for (i, code) in codes.iter().enumerate() {
        app.scan(&door, json!({"code": code, "session": "keynote"}))
            .await;
        if i % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // Names wait up to a second; two quiet seconds mean all has arrived.
    merge_until_quiet(&mut socket, &mut state, &mut kinds).await;
    assert_eq!(state["recent"][0], app.stats(&organiser).await["recent"][0]);
    // An undo of someone on the list the client holds.
    let undone = app.participant_id(&codes[20]).await.unwrap();
    app.undo(&organiser, undone, "keynote").await;
    merge_until_quiet(&mut socket, &mut state, &mut kinds).await;
    assert!(
        kinds.contains("recent_added") && kinds.contains("recent"),
        "{kinds:?}"
    );
    let mut merged = numbers(state);
    let mut expected = app.stats(&organiser).await;
    assert_eq!(merged["attended"]["offline"], 23);
    assert_eq!(merged["recent"].as_array().unwrap().len(), 20);
    // The hour may have slid a minute since the last update: compare the
    // minutes both hold.
    let hour = |stats: &mut Value| stats.as_object_mut().unwrap().remove("arrivals_per_minute");
    let (ours, theirs) = (hour(&mut merged).unwrap(), hour(&mut expected).unwrap());
    let ours = ours.as_array().unwrap();
    assert_eq!(ours.len(), 60);
    for minute in theirs.as_array().unwrap() {
        if let Some(mine) = ours.iter().find(|m| m["minute"] == minute["minute"]) {
            assert_eq!(mine, minute);
        }
    }
    assert_eq!(merged, expected);
}

#[actix_web::test]
async fn a_client_that_reconnects_or_asks_gets_a_fresh_snapshot() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let mut socket = connect(&app, Some(&screen), "").await.unwrap();
    next_json(&mut socket, WAIT).await;
    socket.send(Message::Close(None)).await.unwrap();

    app.scan(
        &door,
        json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
    )
    .await;
    let mut again = connect(&app, Some(&screen), "").await.unwrap();
    let snapshot = next_json(&mut again, WAIT).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(
        snapshot["attended"]["total"], 1,
        "the snapshot has what happened while away"
    );

    again
        .send(Message::Text(r#"{"type":"resync"}"#.into()))
        .await
        .unwrap();
    let resent = next_json(&mut again, WAIT).await;
    assert_eq!(resent["type"], "snapshot");
    assert_eq!(resent["seq"], snapshot["seq"]);
}

#[actix_web::test]
async fn two_hundred_dashboards_all_see_one_scan() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let mut sockets = futures_util::future::join_all((0..200).map(|_| async {
        let mut socket = connect(&app, Some(&screen), "").await.unwrap();
        assert_eq!(next_json(&mut socket, WAIT).await["type"], "snapshot");
        socket
    }))
    .await;
    app.scan(
        &door,
        json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
    )
    .await;
    // The update that carries the scan (a minute boundary may slide the
    // arrivals chart in between).
    let updates =
        futures_util::future::join_all(sockets.iter_mut().map(|s| update_carrying(s, "attended")))
            .await;
    assert!(updates.iter().all(|u| u["attended"]["total"] == 1));
    let seqs: std::collections::HashSet<_> = updates.iter().map(|u| u["seq"].as_u64()).collect();
    assert_eq!(seqs.len(), 1, "everyone got the same update");
}

/// The hub visits 100 sockets at a time here (`TestApp`'s `live_share`),
/// each getting one update from the numbers it holds to the newest: 250
/// dashboards take three shares, and while scans come in each must get
/// updates that apply to what it holds, in order, until it shows all three.
#[actix_web::test]
async fn dashboards_beyond_one_share_get_updates_that_apply_in_order() {
    let app = TestApp::spawn().await;
    app.lift_capacities().await;
    let people = ["ada@example.org", "bo@example.org", "cy@example.org"];
    for email in people {
        app.register_ok(email, "offline", &["keynote"]).await;
    }
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let mut sockets = futures_util::future::join_all((0..250).map(|_| async {
        let mut socket = connect(&app, Some(&screen), "").await.unwrap();
        let snapshot = next_json(&mut socket, WAIT).await;
        assert_eq!(snapshot["type"], "snapshot");
        (socket, snapshot)
    }))
    .await;
    for email in people {
        let code = app.code_of(email).await;
        let (status, _) = app
            .scan(&door, json!({"code": code, "session": "keynote"}))
            .await;
        assert_eq!(status, 200);
    }
    // `merge` checks each update applies to what the dashboard holds.
    let totals = futures_util::future::join_all(sockets.iter_mut().map(|(socket, state)| async {
        while state["attended"]["total"] != 3 {
            merge(state, &next_json(socket, WAIT).await);
        }
        3
    }))
    .await;
    assert_eq!(totals, vec![3; 250], "every dashboard reaches all three");
}

#[actix_web::test]
async fn a_browser_with_a_device_token_opens_the_socket_with_a_ticket() {
    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let (status, ticket) = app
        .api_post(
            &screen,
            &format!("/api/v1/events/{EVENT}/live/ticket"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let ticket = ticket["ticket"].as_str().unwrap().to_string();
    let mut socket = connect(&app, None, &format!("?ticket={ticket}"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket, WAIT).await["type"], "snapshot");
    let door = app.create_token(EVENT, "door", &[]).await;
    let (status, _) = app
        .api_post(
            &door,
            &format!("/api/v1/events/{EVENT}/live/ticket"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
}

#[actix_web::test]
async fn a_signed_in_organiser_connects_from_our_pages_but_not_from_another_site() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    let signed_in = app.login("olga", PASSWORD).await;
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("rollcall_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let open = |origin: String| {
        let request = awc::Client::new()
            .ws(app.url(&format!("/ws/events/{EVENT}/live")))
            .header("cookie", cookie.clone())
            .origin(origin);
        async move {
            match request.connect().await {
                Ok(_) => 101,
                Err(awc::error::WsClientError::InvalidResponseStatus(status)) => status.as_u16(),
                Err(other) => panic!("{other}"),
            }
        }
    };
    assert_eq!(open(app.address.clone()).await, 101, "from our own page");
    assert_eq!(
        open("https://evil.example".into()).await,
        403,
        "from another site"
    );
}

/// Random scans, duplicates, undos and cancellations; then the snapshot, the
/// stats API and a plain count of the database all agree.
#[actix_web::test]
async fn after_any_mix_of_changes_the_snapshot_equals_the_database() {
    for seed in 1..=3 {
        random_changes_then_compare(seed).await;
    }
}

async fn random_changes_then_compare(seed: u64) {
    use rand::{Rng, SeedableRng};
    let app = TestApp::spawn().await;
    app.open_all_doors().await;
    app.lift_capacities().await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let organiser = app.create_token(EVENT, "organiser", &[]).await;
    let sessions = ["keynote", "lab-tour", "webinar"];
    let mut people = Vec::new();
    for i in 0..8 {
        let email = format!("p{i}@example.org");
        let mode = if i % 3 == 0 { "online" } else { "offline" };
        let page = app.register_ok(&email, mode, &["keynote", "webinar"]).await;
        people.push((email.clone(), app.code_of(&email).await, page));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..60 {
        let (_, code, page) = &people[rng.random_range(0..people.len())];
        let session = sessions[rng.random_range(0..sessions.len())];
        match rng.random_range(0..10) {
            0..=5 => {
                app.scan(&door, json!({"code": code, "session": session}))
                    .await;
            }
            6 => {
                app.scan(&door, json!({"code": code})).await;
            }
            7 | 8 => {
                let (_, answer) = app
                    .scan(&door, json!({"code": "AAAAAAAAAAAAAAAAAAAAAAAAAA"}))
                    .await;
                assert_eq!(answer["reason"], "unknown_code");
                if let Some(id) = app.participant_id(code).await {
                    app.undo(&organiser, id, session).await;
                }
            }
            _ => {
                // Already cancelled people are sent back to their page.
                let (status, confirm) = app.get_html(&format!("{page}/cancel")).await;
                if status == 200 {
                    let token = attr(&confirm, "input[name=csrf_token]", "value").unwrap();
                    app.post_form(&format!("{page}/cancel"), &[("csrf_token", token.as_str())])
                        .await;
                }
            }
        }
    }
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut socket = connect(&app, Some(&screen), "").await.unwrap();
    let snapshot = next_json(&mut socket, WAIT).await;
    let expected = app.count_by_hand().await;
    assert_eq!(snapshot["attended"], expected["attended"]);
    assert_eq!(snapshot["registered"], expected["registered"]);
    assert_eq!(snapshot["cancelled"], expected["cancelled"]);
    for session in snapshot["by_session"].as_array().unwrap() {
        let slug = session["slug"].as_str().unwrap();
        assert_eq!(session["in_person"], expected["in_person"][slug], "{slug}");
        assert_eq!(session["online"], expected["online"][slug], "{slug}");
        assert_eq!(
            session["registered_offline"], expected["seats_offline"][slug],
            "{slug}: seats"
        );
    }
    assert_eq!(numbers(snapshot), app.stats(&screen).await);
}

#[actix_web::test]
async fn the_dashboard_page_shows_the_numbers_without_javascript() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    app.scan(
        &door,
        json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
    )
    .await;
    app.create_staff("olga", "organiser", None).await;
    app.login("olga", PASSWORD).await;
    let (status, page) = app.get_html(&format!("/admin/events/{EVENT}/live")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&page, "#attended-total"), "1");
    assert_eq!(text(&page, "#registered-total"), "1");
    assert!(text(&page, "#countries").contains("United Kingdom"));
    assert!(text(&page, "#recent").contains("Ada Lovelace"));
    let (_, big) = app
        .get_html(&format!("/admin/events/{EVENT}/live?screen=1"))
        .await;
    assert!(attr(&big, "body", "class").unwrap().contains("big-screen"));

    let door_user = TestApp::spawn().await;
    door_user.create_staff("d", "door", None).await;
    door_user.login("d", PASSWORD).await;
    assert_eq!(
        door_user
            .get(&format!("/admin/events/{EVENT}/live"))
            .await
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        door_user
            .get(&format!("/api/v1/events/{EVENT}/stats"))
            .await
            .status()
            .as_u16(),
        403
    );
}

/// An app and a second instance on its database; `None` on SQLite, which
/// runs one instance (these tests run in the PostgreSQL leg).
async fn two_instances() -> Option<(TestApp, TestApp)> {
    let app = TestApp::spawn().await;
    let Some(other) = app.second_instance().await else {
        eprintln!("SQLite runs one instance: the two-instance tests run in the PostgreSQL leg");
        return None;
    };
    Some((app, other))
}

/// Two instances on one PostgreSQL database: a scan handled by one reaches
/// a dashboard connected to the other (LISTEN/NOTIFY).
#[actix_web::test]
async fn on_postgres_a_scan_on_one_instance_reaches_a_dashboard_on_another() {
    let Some((app, other)) = two_instances().await else {
        return;
    };
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut socket = connect(&other, Some(&screen), "").await.unwrap();
    let snapshot = next_json(&mut socket, WAIT).await;
    assert_eq!(snapshot["attended"]["total"], 0);
    app.scan(
        &door,
        json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
    )
    .await;
    let update = next_json(&mut socket, Duration::from_secs(2)).await;
    assert_eq!(update["attended"]["total"], 1);
}

/// The same for a change made by a page, not the door: a registration on
/// one instance shows on the other's dashboard.
#[actix_web::test]
async fn on_postgres_a_registration_on_one_instance_reaches_a_dashboard_on_another() {
    let Some((app, other)) = two_instances().await else {
        return;
    };
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut socket = connect(&other, Some(&screen), "").await.unwrap();
    let snapshot = next_json(&mut socket, WAIT).await;
    assert_eq!(snapshot["registered"]["total"], 0);
    app.register_ok("ada@example.org", "online", &["keynote"])
        .await;
    let update = update_carrying(&mut socket, "registered").await;
    assert_eq!(update["registered"]["total"], 1);
    assert_eq!(update["registered"]["online"], 1);
}

/// And for the hub's own writes: someone watching the stream through one
/// instance counts as watching on the other's dashboard, and stops
/// counting when their tab closes.
#[actix_web::test]
async fn on_postgres_watching_through_one_instance_shows_on_another() {
    let Some((app, other)) = two_instances().await else {
        return;
    };
    let ada = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut socket = connect(&other, Some(&screen), "").await.unwrap();
    next_json(&mut socket, WAIT).await;
    let watching_keynote = |update: &Value| {
        update["by_session"]
            .as_array()
            .and_then(|sessions| sessions.iter().find(|s| s["slug"] == "keynote"))
            .map(|keynote| keynote["watching_now"].clone())
    };

    let tab = watch(&app, &ada, "keynote").await;
    loop {
        let update = update_carrying(&mut socket, "by_session").await;
        if watching_keynote(&update) == Some(json!(1)) {
            break;
        }
    }
    drop(tab);
    loop {
        let update = update_carrying(&mut socket, "by_session").await;
        if watching_keynote(&update) == Some(json!(0)) {
            break;
        }
    }
}

/// Other instances are told once per tick, not once per scan: a NOTIFY in
/// every door batch's transaction made PostgreSQL commit them one at a
/// time. Forty scans one after another, each a batch of its own, are told
/// in a few NOTIFYs (one per tick they span).
#[actix_web::test]
async fn on_postgres_scans_are_told_to_other_instances_once_per_tick_not_once_each() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let app = TestApp::spawn().await;
    let rollcall::db::DatabaseUrl::Postgres(url) = &*app.database else {
        eprintln!("SQLite runs one instance: nothing to tell; this runs in the PostgreSQL leg");
        return;
    };
    app.lift_capacities().await;
    let scans = 40;
    let mut codes = Vec::new();
    for n in 0..scans {
        let email = format!("p{n}@example.org");
        app.register_ok(&email, "offline", &["keynote"]).await;
        codes.push(app.code_of(&email).await);
    }
    let door = app.create_token(EVENT, "door", &[]).await;
    // The registrations are told too: let that go out first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut listening = diesel::PgConnection::establish(url).unwrap();
    listening.batch_execute("LISTEN rollcall_live").unwrap();

    for code in &codes {
        let (status, answer) = app
            .scan(&door, json!({"code": code, "session": "keynote"}))
            .await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    }
    // However slow the machine, wait for the first NOTIFY, then long
    // enough for any others the scans would have sent.
    let mut told: Vec<String> = eventually(
        WAIT,
        || "the scans were never told".to_string(),
        || {
            let told: Vec<String> = listening
                .notifications_iter()
                .map(|n| n.unwrap().payload)
                .collect();
            (!told.is_empty()).then_some(told)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    told.extend(listening.notifications_iter().map(|n| n.unwrap().payload));
    assert!(
        told.len() * 2 <= scans,
        "{scans} scans told in {} NOTIFYs",
        told.len()
    );
    let event_id = app
        .db(|conn| rollcall::db::events::find_event(conn, EVENT))
        .await;
    let event_id = event_id.unwrap().id.to_string();
    assert!(told.iter().all(|payload| *payload == event_id));
}

#[actix_web::test]
async fn shutting_down_closes_dashboards_with_a_reason() {
    let app = TestApp::spawn().await;
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut socket = connect(&app, Some(&screen), "").await.unwrap();
    next_json(&mut socket, WAIT).await;
    app.live.shutdown().await;
    let frame = tokio::time::timeout(WAIT, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match frame {
        Frame::Close(Some(reason)) => {
            assert_eq!(reason.description.as_deref(), Some("server shutting down"))
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// `/metrics`' count of `series` once it reaches `at_least` (the hub
/// notes a pass when it has gone round, a moment after the client may have
/// read its update); panics after [`WAIT`].
async fn hub_count_reaches(app: &TestApp, series: &str, at_least: f64) -> f64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, text) = crate::metrics::scrape(app, Some(METRICS_TOKEN)).await;
        assert_eq!(status, 200);
        let count = crate::metrics::value(&text, series).unwrap_or(0.0);
        if count >= at_least {
            return count;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} stayed at {count}, below {at_least}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn metrics_time_each_pass_and_computation_of_the_live_numbers() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let (_, before) = crate::metrics::scrape(&app, Some(METRICS_TOKEN)).await;
    assert_eq!(
        crate::metrics::value(&before, "rollcall_live_pass_seconds_count"),
        Some(0.0),
        "no dashboard, no pass: {before}"
    );
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    let mut socket = connect(&app, Some(&screen), "").await.unwrap();
    assert_eq!(next_json(&mut socket, WAIT).await["type"], "snapshot");
    let passes = hub_count_reaches(&app, "rollcall_live_pass_seconds_count", 1.0).await;
    let computations =
        hub_count_reaches(&app, "rollcall_live_computation_seconds_count", 1.0).await;

    let door = app.create_token(EVENT, "door", &[]).await;
    let code = app.code_of("ada@example.org").await;
    app.scan(&door, json!({"code": code, "session": "keynote"}))
        .await;
    update_carrying(&mut socket, "attended").await;
    hub_count_reaches(&app, "rollcall_live_pass_seconds_count", passes + 1.0).await;
    hub_count_reaches(
        &app,
        "rollcall_live_computation_seconds_count",
        computations + 1.0,
    )
    .await;
    let (_, text) = crate::metrics::scrape(&app, Some(METRICS_TOKEN)).await;
    // At least: a minute ending in between slides the arrivals chart.
    assert!(
        crate::metrics::value(&text, "rollcall_live_updates_total").unwrap() >= 2.0,
        "one dashboard, a snapshot and an update: {text}"
    );
    assert!(
        crate::metrics::value(&text, "rollcall_live_pass_seconds_sum").unwrap() > 0.0,
        "{text}"
    );
    assert!(
        text.contains(r#"rollcall_live_pass_seconds_bucket{le="0.25"}"#),
        "passes in buckets around the dashboards' target: {text}"
    );
}
