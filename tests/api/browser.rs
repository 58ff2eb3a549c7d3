//! Journeys in a real browser: Debian's Chromium, headless, driven through
//! chromedriver. Skipped with a printed reason when chromedriver is missing,
//! unless ROLLCALL_BROWSER_TESTS=required (as in CI), where that fails.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 900);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends chromedriver and every Chromium process it started: they share
    /// its process group. Killing chromedriver alone leaves browsers behind.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<String> {
    let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    std::path::Path::new(&path).exists().then_some(path)
}

/// A fresh headless Chromium, or `None` (with the reason printed) where the
/// machine has none and browser tests are not required.
pub async fn browser(size: (u32, u32)) -> Option<Browser> {
    browser_with(size, &[]).await
}

/// A browser started with extra Chromium flags (e.g. a fake camera).
pub async fn browser_with(size: (u32, u32), extra_args: &[String]) -> Option<Browser> {
    let Some(driver_path) = chromedriver() else {
        if std::env::var("ROLLCALL_BROWSER_TESTS").as_deref() == Ok("required") {
            panic!("ROLLCALL_BROWSER_TESTS=required but chromedriver is not installed");
        }
        eprintln!("skipping browser journey: chromedriver not found (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    use std::os::unix::process::CommandExt;
    let driver = Command::new(driver_path)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let chrome_binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.push(format!("--window-size={},{}", size.0, size.1));
    args.extend_from_slice(extra_args);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"binary": chrome_binary, "args": args}),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last_error = None;
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                let browser = Browser {
                    client,
                    driver,
                    _profile: profile,
                };
                browser
                    .client
                    .set_window_size(size.0, size.1)
                    .await
                    .unwrap();
                return Some(browser);
            }
            Err(e) => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("chromedriver did not start a session: {last_error:?}");
}

impl Browser {
    /// Saves a screenshot under target/screenshots/ for people to look at.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }

    /// A full-page screenshot: the window grows to the page's height first.
    pub async fn screenshot_full(&self, name: &str, width: u32) {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(900) as u32;
        self.client
            .set_window_size(width, height.min(4000))
            .await
            .unwrap();
        self.screenshot(name).await;
    }

    /// The element's text, or `None` if it is missing or was just replaced
    /// (live pages redraw their tables).
    pub async fn try_text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    pub async fn text_of(&self, css: &str) -> String {
        for _ in 0..20 {
            if let Some(text) = self.try_text(css).await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no element {css}");
    }

    pub async fn value_of(&self, css: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.prop("value").await.unwrap().unwrap_or_default()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.select_by_value(value).await.unwrap();
    }

    /// What a keyboard scanner does: types into the focused field and
    /// presses Enter.
    pub async fn scan(&self, text: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(&format!("{text}\n"))
            .await
            .unwrap();
    }

    /// Waits for the scan page's setup form to show.
    pub async fn wait_for_setup(&self) {
        self.client
            .wait()
            .for_element(Locator::Css("#setup:not([hidden])"))
            .await
            .unwrap();
    }

    /// Runs axe-core (vendored under tests/vendor, injected through WebDriver
    /// so the page's CSP still forbids inline scripts) on the page as it is
    /// now, and fails on any serious or critical violation.
    pub async fn assert_accessible(&self, page: &str) {
        const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");
        self.client.execute(AXE, vec![]).await.unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({
                       id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))
                   .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<&serde_json::Value> = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "{page}: accessibility violations: {serious:#?}"
        );
    }
}

#[actix_web::test]
async fn a_registrant_fixes_a_mistake_and_gets_the_qr_code() {
    let app = TestApp::spawn().await;
    let Some(browser) = browser(DESKTOP).await else {
        return;
    };
    let b = &browser;
    b.client
        .goto(&app.url(&format!("/events/{EVENT}")))
        .await
        .unwrap();
    b.screenshot_full("event-page-desktop", DESKTOP.0).await;
    b.assert_accessible("event page").await;

    b.type_into("#full_name", "Zofia Wiśniewska").await;
    b.type_into("#email", "zofia-at-example").await;
    b.type_into("#affiliation", "Polish Academy of Sciences")
        .await;
    b.select("#country", "PL").await;
    b.click("input[name=mode][value=online]").await;
    b.select("#category", "speaker").await;
    b.click("input[name=sessions][value=keynote]").await;
    b.click("input[name=consent]").await;
    b.click("form button[type=submit]").await;

    // The same page, the mistake named next to its field, nothing lost.
    assert!(b.text_of("#email-error").await.contains("email address"));
    assert_eq!(b.value_of("#full_name").await, "Zofia Wiśniewska");
    assert_eq!(b.value_of("#email").await, "zofia-at-example");
    assert_eq!(b.value_of("#country").await, "PL");
    assert_eq!(b.value_of("#category").await, "speaker");
    let keynote = b
        .client
        .find(Locator::Css("input[name=sessions][value=keynote]"))
        .await
        .unwrap();
    assert_eq!(
        keynote.prop("checked").await.unwrap().as_deref(),
        Some("true")
    );
    b.client
        .execute(
            "document.getElementById('email').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot("event-page-error").await;
    b.assert_accessible("event page with an error").await;

    b.type_into("#email", "zofia@example.org").await;
    b.click("form button[type=submit]").await;
    b.client
        .wait()
        .for_element(Locator::Css(".ticket"))
        .await
        .unwrap();
    let url = b.client.current_url().await.unwrap();
    assert!(url.path().starts_with("/r/"), "landed on {url}");
    assert!(b.text_of(".ticket h1").await.contains("Zofia Wiśniewska"));
    assert!(b.text_of(".ticket").await.contains("Poland"));
    let qr = b.client.find(Locator::Css(".ticket-qr svg")).await.unwrap();
    let (_, _, width, height) = qr.rectangle().await.unwrap();
    assert!(
        width > 150.0 && height > 150.0,
        "the QR is shown large enough to scan: {width}x{height}"
    );
    b.screenshot_full("personal-page-desktop", DESKTOP.0).await;
    b.assert_accessible("personal page").await;

    b.client.set_window_size(PHONE.0, PHONE.1).await.unwrap();
    b.screenshot("personal-page-phone").await;
    b.client
        .goto(&app.url(&format!("/events/{EVENT}")))
        .await
        .unwrap();
    b.screenshot("event-page-phone").await;
}

/// Signs in through the login form in the browser.
async fn sign_in(b: &Browser, app: &TestApp, username: &str, next: &str) {
    b.client
        .goto(&app.url(&format!("/login?next={next}")))
        .await
        .unwrap();
    b.type_into("#username", username).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
}

/// Door staff `door1`, Ada registered in person for the keynote (her code
/// returned), and a phone-sized browser; `None` without Chromium.
async fn door_fixture() -> Option<(TestApp, Browser, String)> {
    let app = TestApp::spawn().await;
    app.create_staff("door1", "door", Some(EVENT)).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let browser = browser(PHONE).await?;
    Some((app, browser, code))
}

/// Signs in as door staff and sets up the scan page for the keynote.
async fn open_scan_page(b: &Browser, app: &TestApp, door: &str) {
    sign_in(b, app, "door1", &format!("/scan/{EVENT}")).await;
    b.wait_for_setup().await;
    b.select("#session-select", "keynote").await;
    b.type_into("#door-input", door).await;
    b.click("#setup-done").await;
    wait_for_text(b, "#where", &format!("Keynote · {door}")).await;
}

async fn wait_for_text(b: &Browser, css: &str, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        last = b.try_text(css).await.unwrap_or_default();
        if last.contains(expected) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {expected:?}; it shows {last:?}");
}

#[actix_web::test]
async fn door_staff_scan_with_a_keyboard_scanner_on_a_phone() {
    let Some((app, browser, code)) = door_fixture().await else {
        return;
    };
    let b = &browser;

    open_scan_page(b, &app, "North entrance").await;

    // The scanner "types" into the focused field and presses Enter.
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("code-input"),
        "the scanner field has focus"
    );
    focused.send_keys(&format!("{code}\n")).await.unwrap();
    wait_for_text(b, "#result-word", "Accepted").await;
    assert!(b.text_of("#result-name").await.contains("Ada Lovelace"));
    assert!(b.text_of("#result-detail").await.contains("GB"));
    assert_eq!(b.text_of("#count").await, "1");
    assert_eq!(
        b.value_of("#code-input").await,
        "",
        "the field clears after each scan"
    );
    b.screenshot("scan-accepted-phone").await;
    b.assert_accessible("scan page, accepted").await;

    // The same badge again, after the camera's quiet period.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    b.scan(&code).await;
    let word = wait_for_text(b, "#result-word", "Already in").await;
    assert!(word.contains("Already in"));
    assert!(b.text_of("#result-detail").await.contains("North entrance"));
    b.screenshot("scan-duplicate-phone").await;
    b.assert_accessible("scan page, already in").await;

    b.scan("NOT-A-ROLLCALL-CODE").await;
    wait_for_text(b, "#result-word", "Unknown code").await;
    b.screenshot("scan-rejected-phone").await;
    b.assert_accessible("scan page").await;
    assert_eq!(
        b.client
            .find_all(Locator::Css("#recent li"))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(b.text_of("#count").await, "1");
}

#[actix_web::test]
async fn an_organiser_sets_up_a_door_token_and_reads_the_log() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    app.register_ok("bo@example.org", "offline", &["keynote"])
        .await;
    let door = app.create_token(EVENT, "door", &[]).await;
    // Ada's acceptance is carried by her record (it has a scan id), Bo's
    // and the duplicate are log rows: the page lists all three.
    let ada = app.code_of("ada@example.org").await;
    for scan in [
        serde_json::json!({"code": ada, "session": "keynote", "door": "North", "scan_id": "log-1"}),
        serde_json::json!({"code": app.code_of("bo@example.org").await, "session": "keynote", "door": "South"}),
        serde_json::json!({"code": ada, "session": "keynote", "door": "South", "scan_id": "log-2"}),
    ] {
        app.scan(&door, scan).await;
    }
    let Some(browser) = browser(DESKTOP).await else {
        return;
    };
    let b = &browser;
    sign_in(b, &app, "olga", &format!("/admin/events/{EVENT}")).await;
    b.client
        .wait()
        .for_element(Locator::Css("#tokens"))
        .await
        .unwrap();
    b.type_into("#label", "South door phone").await;
    b.select("#role", "door").await;
    b.screenshot_full("admin-event-desktop", DESKTOP.0).await;
    b.click(".token-form button[type=submit]").await;
    let token = wait_for_text(b, "code.secret", "rc_").await;
    assert!(token.starts_with("rc_"));
    b.screenshot("admin-token-created").await;

    b.client
        .goto(&app.url(&format!("/admin/events/{EVENT}/checkins")))
        .await
        .unwrap();
    let rows = b.client.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 3);
    let newest_first: Vec<String> = [
        "tbody tr:nth-child(1)",
        "tbody tr:nth-child(2)",
        "tbody tr:nth-child(3)",
    ]
    .iter()
    .map(|row| b.text_of(row))
    .collect::<futures_util::future::JoinAll<_>>()
    .await;
    assert!(newest_first[0].contains("duplicate"), "{newest_first:?}");
    assert!(newest_first[2].contains("North"), "{newest_first:?}");
    assert!(newest_first[2].contains("accepted"), "{newest_first:?}");
    assert_eq!(
        b.client
            .find_all(Locator::Css("tbody button"))
            .await
            .unwrap()
            .len(),
        2,
        "each acceptance can be undone"
    );
    b.screenshot("admin-checkin-log").await;
}

/// A Chrome DevTools command through chromedriver (network cuts and the like).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    pub async fn cdp(&self, cmd: &'static str, params: serde_json::Value) {
        self.client.issue_cmd(Cdp { cmd, params }).await.unwrap();
    }

    /// Makes the API unreachable from the page (the page itself still loads).
    pub async fn cut_api(&self, cut: bool) {
        self.cdp("Network.enable", serde_json::json!({})).await;
        let patterns = if cut { vec!["*/api/v1/*"] } else { vec![] };
        self.cdp(
            "Network.setBlockedURLs",
            serde_json::json!({"urls": patterns}),
        )
        .await;
    }
}

#[actix_web::test]
async fn a_scan_made_without_network_survives_a_reload_and_is_delivered_once() {
    use diesel::prelude::*;
    use rollcall::db::schema::attendance;
    let Some((app, browser, code)) = door_fixture().await else {
        return;
    };
    let b = &browser;
    open_scan_page(b, &app, "Side door").await;

    b.cut_api(true).await;
    b.scan(&code).await;
    wait_for_text(b, "#result-word", "Saved").await;
    wait_for_text(b, "#pending", "1 scan waiting").await;
    assert!(b.text_of("#net").await.contains("Offline"));
    b.screenshot("scan-pending-phone").await;

    b.client.refresh().await.unwrap();
    wait_for_text(b, "#pending", "1 scan waiting").await;
    let counted: i64 = app
        .db(|conn| Ok(attendance::table.count().get_result(conn)?))
        .await;
    assert_eq!(counted, 0, "nothing reached the server yet");

    b.cut_api(false).await;
    // The page retries by itself; the answer arrives and the queue empties.
    for _ in 0..100 {
        if b.client
            .find(Locator::Css("#pending[hidden]"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        b.client
            .find(Locator::Css("#pending[hidden]"))
            .await
            .is_ok(),
        "the queue emptied"
    );
    assert_eq!(b.text_of("#count").await, "1");
    let counted: i64 = app
        .db(|conn| Ok(attendance::table.count().get_result(conn)?))
        .await;
    let logged = app.log_lines().await.len();
    assert_eq!((counted, logged), (1, 1), "delivered exactly once");
}

/// A short YUV4MPEG2 video of `text` as a QR code, dark on light, for
/// Chromium's fake camera.
fn qr_video(text: &str, path: &std::path::Path) {
    let (width, height) = (640usize, 480usize);
    let qr = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let image = qr
        .render::<image::Luma<u8>>()
        .module_dimensions(8, 8)
        .build();
    let (qw, qh) = (image.width() as usize, image.height() as usize);
    let (left, top) = ((width - qw) / 2, (height - qh) / 2);
    let mut luma = vec![235u8; width * height];
    for y in 0..qh {
        for x in 0..qw {
            luma[(top + y) * width + left + x] = image.get_pixel(x as u32, y as u32)[0];
        }
    }
    let chroma = vec![128u8; width * height / 4];
    let mut video = format!("YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..30 {
        video.extend_from_slice(b"FRAME\n");
        video.extend_from_slice(&luma);
        video.extend_from_slice(&chroma);
        video.extend_from_slice(&chroma);
    }
    std::fs::write(path, video).unwrap();
}

#[actix_web::test]
async fn the_camera_reads_a_badge_and_checks_the_person_in() {
    let app = TestApp::spawn().await;
    app.create_staff("door1", "door", Some(EVENT)).await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("badge.y4m");
    qr_video(&code, &video);
    let flags = [
        "--use-fake-ui-for-media-stream".to_string(),
        "--use-fake-device-for-media-stream".to_string(),
        format!("--use-file-for-fake-video-capture={}", video.display()),
    ];
    let Some(browser) = browser_with(PHONE, &flags).await else {
        return;
    };
    let b = &browser;
    open_scan_page(b, &app, "Camera door").await;
    b.click("#camera-toggle").await;

    wait_for_text(b, "#result-word", "Accepted").await;
    assert!(b.text_of("#result-name").await.contains("Ada Lovelace"));
    b.screenshot("scan-camera-phone").await;
    // The camera keeps seeing the badge for longer than the quiet period:
    // it is still one scan, not a second "already in".
    tokio::time::sleep(Duration::from_millis(5000)).await;
    assert!(b.text_of("#result-word").await.contains("Accepted"));
    let sent = app.log_lines().await.len();
    assert_eq!(sent, 1, "one scan for one badge held up to the camera");
}

#[actix_web::test]
async fn a_door_device_set_up_from_its_link_scans_with_its_token() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let token = app.create_token(EVENT, "door", &["keynote"]).await;
    let Some(browser) = browser(PHONE).await else {
        return;
    };
    let b = &browser;
    b.client
        .goto(&app.url(&format!("/scan/{EVENT}/device#token={token}")))
        .await
        .unwrap();
    b.wait_for_setup().await;
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.fragment(), None, "the token leaves the address bar");
    // Limited to the keynote: no event entry, no other sessions on offer.
    let options = b
        .client
        .find_all(Locator::Css("#session-select option"))
        .await
        .unwrap();
    assert_eq!(options.len(), 1);
    b.select("#session-select", "keynote").await;
    b.type_into("#door-input", "Device door").await;
    b.click("#setup-done").await;
    b.scan(&code).await;
    wait_for_text(b, "#result-word", "Accepted").await;
}

#[actix_web::test]
async fn a_pasted_token_offers_its_sessions_and_keeps_the_door_typed() {
    let app = TestApp::spawn().await;
    app.register_ok("ada@example.org", "offline", &["keynote"])
        .await;
    let code = app.code_of("ada@example.org").await;
    let token = app.create_token(EVENT, "door", &[]).await;
    let Some(browser) = browser(PHONE).await else {
        return;
    };
    let b = &browser;
    b.client
        .goto(&app.url(&format!("/scan/{EVENT}/device")))
        .await
        .unwrap();
    b.wait_for_setup().await;
    b.type_into("#token-input", &token).await;
    // Leaving the field loads the token's sessions while the form is open.
    b.type_into("#door-input", "Side door").await;
    b.client
        .wait()
        .for_element(Locator::Css("#session-select option[value='keynote']"))
        .await
        .unwrap();
    b.select("#session-select", "keynote").await;
    b.click("#setup-done").await;
    let where_ = wait_for_text(b, "#where", "Side door").await;
    assert!(where_.starts_with("Keynote"), "{where_}");
    b.scan(&code).await;
    wait_for_text(b, "#result-word", "Accepted").await;
    use diesel::prelude::*;
    use rollcall::db::schema::attendance;
    // A plain acceptance: its record carries the door and the scan id.
    let (door, scan_id): (Option<String>, Option<String>) = app
        .db(|conn| {
            Ok(attendance::table
                .select((attendance::door, attendance::scan_id))
                .first(conn)?)
        })
        .await;
    assert_eq!(door.as_deref(), Some("Side door"));
    // The scan page's ids are UUID version 7: the version digit is 7.
    assert_eq!(scan_id.unwrap_or_default().chars().nth(14), Some('7'));
}

#[actix_web::test]
async fn the_dashboard_updates_without_a_reload_when_someone_is_scanned() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    for (email, mode) in [
        ("ada@example.org", "offline"),
        ("bo@example.org", "offline"),
        ("cy@example.org", "online"),
    ] {
        app.register_ok(email, mode, &["keynote"]).await;
    }
    let door = app.create_token(EVENT, "door", &[]).await;
    app.scan(&door, serde_json::json!({"code": app.code_of("bo@example.org").await, "session": "keynote", "door": "North"}))
        .await;
    let Some(browser) = browser(DESKTOP).await else {
        return;
    };
    let b = &browser;
    sign_in(b, &app, "olga", &format!("/admin/events/{EVENT}/live")).await;
    wait_for_text(b, "#conn", "Live").await;
    assert_eq!(b.text_of("#attended-total").await, "1");
    b.screenshot_full("dashboard-before", DESKTOP.0).await;

    app.scan(&door, serde_json::json!({"code": app.code_of("ada@example.org").await, "session": "keynote", "door": "South"}))
        .await;
    wait_for_text(b, "#attended-total", "2").await;
    wait_for_text(b, "#recent li", "Ada Lovelace").await;
    assert!(b
        .text_of("#recent")
        .await
        .starts_with(&b.text_of("#recent li").await));
    // The update carried one minute; the chart still shows the hour, both
    // arrivals in it.
    let chart = b
        .client
        .execute(
            "var bars = document.querySelectorAll('#arrivals rect title'); \
             return [bars.length, Array.from(bars).reduce(function (n, t) { return n + parseInt(t.textContent, 10); }, 0)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chart, serde_json::json!([60, 2]));
    assert!(b.text_of("#sessions").await.contains("2 / 2"));
    b.screenshot_full("dashboard-after", DESKTOP.0).await;
    b.assert_accessible("live dashboard").await;

    // The report, opened after the scan, has the new count too.
    b.client
        .goto(&app.url(&format!("/admin/events/{EVENT}/report")))
        .await
        .unwrap();
    assert_eq!(b.text_of("#attended-total").await, "2");
    assert!(b.text_of("#sessions").await.contains("Keynote"));
    b.assert_accessible("report").await;

    // The hall screen: big type, signed in by a dashboard token in its link.
    let screen = app.create_token(EVENT, "dashboard", &[]).await;
    b.client.set_window_size(1920, 1080).await.unwrap();
    b.client
        .goto(&app.url(&format!("/screen/{EVENT}#token={screen}")))
        .await
        .unwrap();
    wait_for_text(b, "#conn", "Live").await;
    wait_for_text(b, "#attended-total", "2").await;
    // The keynote's two seats are taken: Cy is counted at the venue entrance.
    app.scan(
        &door,
        serde_json::json!({"code": app.code_of("cy@example.org").await, "door": "North"}),
    )
    .await;
    wait_for_text(b, "#attended-total", "3").await;
    b.screenshot("dashboard-big-screen").await;
}

/// A stand-in for the streaming platform: any path answers a page titled
/// "Keynote stream". Returns its base URL.
async fn stream_host() -> String {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body("<!doctype html><html lang=en><title>Stream</title><h1>Keynote stream</h1>")
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    base
}

async fn set_stream_url(app: &TestApp, session: &'static str, url: &str) {
    use diesel::prelude::*;
    use rollcall::db::schema::agenda_sessions;
    let url = url.to_string();
    app.db(move |conn| {
        Ok(diesel::update(agenda_sessions::table)
            .filter(agenda_sessions::slug.eq(session))
            .set(agenda_sessions::stream_url.eq(Some(url)))
            .execute(conn)?)
    })
    .await;
}

#[actix_web::test]
async fn watching_now_rises_and_falls_on_the_dashboard_as_watch_pages_open_and_close() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    let ada = app
        .register_ok("ada@example.org", "online", &["keynote"])
        .await;
    let Some(browser) = browser(DESKTOP).await else {
        return;
    };
    let b = &browser;
    sign_in(b, &app, "olga", &format!("/admin/events/{EVENT}/live")).await;
    wait_for_text(b, "#conn", "Live").await;
    let dashboard = b.client.window().await.unwrap();
    let watching = "#sessions tr[data-slug=keynote] td:nth-child(4)";
    assert_eq!(b.text_of(watching).await, "0");

    // The participant clicks Join on their personal page and lands on the
    // stream (a stand-in stream host on loopback: the network is closed).
    let stream = stream_host().await;
    set_stream_url(&app, "keynote", &format!("{stream}/keynote-live")).await;
    let tab = b.client.new_window(true).await.unwrap();
    b.client.switch_to_window(tab.handle.clone()).await.unwrap();
    b.client.goto(&app.url(&ada)).await.unwrap();
    b.assert_accessible("personal page with join links").await;
    b.click(".join-links a.primary").await;
    wait_for_text(b, "h1", "Keynote stream").await;
    let landed = b.client.current_url().await.unwrap();
    assert_eq!(landed.as_str(), format!("{stream}/keynote-live"));

    b.client.switch_to_window(dashboard.clone()).await.unwrap();
    wait_for_text(b, "#attended-online", "1").await;
    assert_eq!(b.text_of(watching).await, "0", "joined, not yet watching");

    // The watch page keeps them counted as watching while it is open.
    b.client.switch_to_window(tab.handle.clone()).await.unwrap();
    b.client
        .goto(&app.url(&format!("{ada}/watch/keynote")))
        .await
        .unwrap();
    wait_for_text(b, "#presence", "counted as watching").await;
    b.screenshot("watch-page").await;
    b.assert_accessible("watch page").await;

    b.client.switch_to_window(dashboard.clone()).await.unwrap();
    wait_for_text(b, watching, "1").await;
    assert_eq!(
        b.text_of("#attended-online").await,
        "1",
        "one person, however they joined"
    );
    b.screenshot_full("dashboard-watching", DESKTOP.0).await;

    b.client.switch_to_window(tab.handle).await.unwrap();
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(dashboard).await.unwrap();
    wait_for_text(b, watching, "0").await;
}

#[actix_web::test]
async fn an_organiser_uploads_a_list_fixes_the_listed_line_and_imports_it() {
    let app = TestApp::spawn().await;
    app.create_staff("olga", "organiser", None).await;
    let Some(browser) = browser(DESKTOP).await else {
        return;
    };
    let b = &browser;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invitees.csv");
    let header = "name,email,affiliation,country,mode,category,sessions\n";
    std::fs::write(
        &file,
        format!("{header}Ada Lovelace,ada@example.org,Society,GB,offline,,keynote\nBo Bright,bo-at-example,Society,Narnia,offline,,\n"),
    )
    .unwrap();
    let path = format!("/admin/events/{EVENT}/import");
    sign_in(b, &app, "olga", &path).await;
    b.client
        .wait()
        .for_element(Locator::Css("#file"))
        .await
        .unwrap();
    async fn upload(b: &Browser, file: &std::path::Path) {
        b.client
            .find(Locator::Css("#file"))
            .await
            .unwrap()
            .send_keys(&file.to_string_lossy())
            .await
            .unwrap();
        b.click("form button[type=submit]").await;
    }
    upload(b, &file).await;
    wait_for_text(b, "[role=alert]", "Nothing was imported").await;
    let problems = b.text_of("table.problems").await;
    assert!(problems.contains("3 email:"), "{problems}");
    assert!(problems.contains("Narnia"), "{problems}");
    b.screenshot_full("import-problems", DESKTOP.0).await;
    b.assert_accessible("import page with problems").await;

    std::fs::write(
        &file,
        format!("{header}Ada Lovelace,ada@example.org,Society,GB,offline,,keynote\nBo Bright,bo@example.org,Society,Norway,offline,,\n"),
    )
    .unwrap();
    upload(b, &file).await;
    wait_for_text(b, "[role=status]", "Imported 2 participants").await;
    b.click(".notice + p a").await;
    wait_for_text(b, "table", "Bo Bright").await;

    // After the event, the event page offers the purge.
    app.db(|conn| {
        use diesel::prelude::*;
        use rollcall::db::schema::events;
        Ok(diesel::update(events::table)
            .set(events::ends_at.eq(rollcall::db::now_ms() - 60_000))
            .execute(conn)?)
    })
    .await;
    b.client
        .goto(&app.url(&format!("/admin/events/{EVENT}#privacy")))
        .await
        .unwrap();
    wait_for_text(b, "#privacy", "Purge personal data").await;
    b.screenshot("admin-event-privacy").await;
    b.assert_accessible("event page with the purge form").await;
}

#[actix_web::test]
async fn the_demo_report_prints_as_a_clean_a4_document() {
    let app = TestApp::spawn_empty().await;
    app.db(rollcall::demo::load).await;
    app.create_staff("olga", "organiser", None).await;
    let Some(browser) = browser(DESKTOP).await else {
        return;
    };
    let b = &browser;
    sign_in(b, &app, "olga", "/admin/events/zgc-forum-2021/report").await;
    wait_for_text(b, "h1", "attendance report").await;
    assert_eq!(b.text_of("#registered-total").await, "138");
    assert!(b.text_of("#countries").await.contains("Germany"));
    b.screenshot_full("report-desktop", DESKTOP.0).await;
    let pdf = b
        .client
        .print(fantoccini::wd::PrintConfiguration::default())
        .await
        .unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots");
    std::fs::write(format!("{dir}/report.pdf"), pdf).unwrap();
}
