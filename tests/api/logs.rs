//! The server's log as an operator keeps it: in a file, or in a pipe to a
//! journal that may fall behind.

use crate::helpers::*;
use std::process::Stdio;
use std::time::Duration;

#[actix_web::test]
async fn each_request_is_logged_as_plain_text_without_personal_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    let log_path = dir.path().join("rollcall.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server =
        ServerProcess::start_logging(&database, &dir.path().join("outbox"), "info", log.into());
    let client = reqwest::Client::new();
    for path in ["/healthz", "/r/PERSONALTOKEN123/qr.png", "/no-such-page"] {
        client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
    }
    let status = actix_web::rt::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");

    // Written out by the time the process has exited.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("status=200 path=/healthz"), "{log}");
    assert!(log.contains("status=404 path=/no-such-page"), "{log}");
    assert!(log.contains("path=/r/…/qr.png"), "{log}");
    assert!(!log.contains("PERSONALTOKEN123"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a file: {log:?}");
}

#[actix_web::test]
async fn the_server_answers_and_stops_when_nobody_reads_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    // A pipe holds 64 KiB (about 600 lines), then each write waits for a
    // reader that never comes.
    let mut server = ServerProcess::start_logging(
        &database,
        &dir.path().join("outbox"),
        "info",
        Stdio::piped(),
    );
    let unread = server.take_stdout();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // Past the pipe, then past the lines the server queues: it drops those.
    let requests = 600 + rollcall::telemetry::QUEUED_LINES + 1_000;
    for n in 0..requests {
        let answer = client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {n} got no answer: {e}"));
        assert_eq!(answer.status(), 200, "request {n}");
    }
    // And stops when told, its log still unread.
    let status = actix_web::rt::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    drop(unread);
}
