//! Importing participant lists: the upload form and the `import` command.

use crate::helpers::*;
use diesel::prelude::*;
use rollcall::db::{self, schema, DatabaseUrl};
use scraper::Html;
use serde_json::json;
use std::process::Command;

const HEADER: &str = "name,email,affiliation,country,mode,category,sessions\n";

impl TestApp {
    /// Posts the import form with `csv` as the file, the way a browser sends
    /// a multipart upload.
    async fn upload(&self, csv: &str, send_confirmations: bool) -> (u16, Html) {
        let path = format!("/admin/events/{EVENT}/import");
        let token = self.csrf_token(&path).await;
        let boundary = "----rollcall-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
        );
        if send_confirmations {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"send_confirmations\"\r\n\r\nyes\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
        ));
        let response = self
            .post_raw(
                &path,
                &format!("multipart/form-data; boundary={boundary}"),
                body.into_bytes(),
            )
            .await;
        let status = response.status().as_u16();
        (
            status,
            Html::parse_document(&response.text().await.unwrap()),
        )
    }

    async fn as_organiser(&self) -> String {
        self.create_staff("olga", "organiser", None).await;
        self.login("olga", PASSWORD).await;
        self.create_token(EVENT, "organiser", &[]).await
    }
}

fn problems(page: &Html) -> Vec<String> {
    let rows = scraper::Selector::parse("table.problems tbody tr").unwrap();
    page.select(&rows)
        .map(|row| row.text().collect::<Vec<_>>().join(" "))
        .collect()
}

#[actix_web::test]
async fn an_uploaded_list_registers_everyone_who_can_then_be_scanned() {
    let app = TestApp::spawn().await;
    let organiser = app.as_organiser().await;
    let file = format!(
        "\u{feff}{HEADER}Ada Lovelace,ada@example.org,Analytical Society,United Kingdom,In person,,keynote\n\
         \"Müller, Jörg\",JM@example.de,TU Wien,AT,online,Member representative,members-meeting;webinar\n\
         Li Wei,li@example.cn,IHEP,CN,online,speaker,\n"
    );
    let (status, page) = app.upload(&file, true).await;
    assert_eq!(status, 200, "{}", page.html());
    assert!(text(&page, "[role=status]").contains("Imported 3 participants"));

    let stats = app.stats(&organiser).await;
    assert_eq!(stats["registered"]["total"], 3);
    assert_eq!(stats["registered"]["online"], 2);
    let keynote = stats["by_session"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "keynote")
        .unwrap()
        .clone();
    assert_eq!(keynote["registered_offline"], 1);

    // The imported code works at the door like a web registration's.
    let door = app.create_token(EVENT, "door", &[]).await;
    let (status, answer) = app
        .scan(
            &door,
            json!({"code": app.code_of("ada@example.org").await, "session": "keynote"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["participant"]["name"], "Ada Lovelace");

    // Each got the confirmation a web registrant gets, with a working link.
    let mail = app.outbox_messages(3).await;
    assert_eq!(mail.len(), 3);
    let to_jorg = mail
        .iter()
        .find(|m| m.contains("jm@example.de"))
        .expect("a mail to the lower-cased address");
    let link = to_jorg
        .split_whitespace()
        .find(|w| w.contains("/r/"))
        .unwrap();
    let path = &link[link.find("/r/").unwrap()..];
    let (status, personal) = app.get_html(path).await;
    assert_eq!(status, 200);
    assert!(personal.html().contains("Müller, Jörg"));
}

#[actix_web::test]
async fn each_kind_of_bad_row_is_listed_by_line_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let organiser = app.as_organiser().await;
    let file = format!(
        "{HEADER}Good Person,good@example.org,Uni,DE,offline,,\n\
         ,bad-email,Uni,DE,offline,,\n\
         Nowhere Man,nw@example.org,Uni,Atlantis,offline,,\n\
         Mode Less,ml@example.org,Uni,DE,hybrid,,\n\
         Cat Egory,ce@example.org,Uni,DE,offline,vip,\n\
         Not Member,nm@example.org,Uni,DE,offline,delegate,members-meeting\n\
         Online Tourist,ot@example.org,Uni,DE,online,,lab-tour\n\
         Lost Session,ls@example.org,Uni,DE,offline,,plenary\n\
         Twice Again,GOOD@example.org,Uni,DE,offline,,\n\
         Too,few,columns\n"
    );
    let (status, page) = app.upload(&file, false).await;
    assert_eq!(status, 422);
    let listed = problems(&page);
    let on = |line: &str, needle: &str| {
        assert!(
            listed
                .iter()
                .any(|p| p.starts_with(&format!("{line} ")) && p.contains(needle)),
            "no problem on line {line} with {needle:?}: {listed:#?}"
        )
    };
    on("3", "name:");
    on("3", "email:");
    on("4", "Atlantis");
    on("5", "mode:");
    on("6", "category:");
    on("7", "member representatives");
    on("8", "in person only");
    on("9", "plenary");
    on("10", "also on line 2");
    on("11", "3 values");
    assert!(
        !listed.iter().any(|p| p.starts_with("2 ")),
        "line 2 is fine"
    );
    assert!(text(&page, "[role=alert]").contains("Nothing was imported"));

    let stats = app.stats(&organiser).await;
    assert_eq!(stats["registered"]["total"], 0, "all or nothing");
}

#[actix_web::test]
async fn what_only_the_database_knows_refuses_the_whole_file() {
    let app = TestApp::spawn().await;
    let organiser = app.as_organiser().await;
    app.register_ok("taken@example.org", "offline", &[]).await;

    let (status, page) = app
        .upload(
            &format!(
                "{HEADER}New One,new1@example.org,Uni,DE,offline,,\n\
                 Taken,Taken@Example.org,Uni,DE,offline,,\n"
            ),
            false,
        )
        .await;
    assert_eq!(status, 422);
    let listed = problems(&page);
    assert!(listed[0].starts_with("3 ") && listed[0].contains("already registered"));

    // lab-tour has one in-person seat.
    let (status, page) = app
        .upload(
            &format!(
                "{HEADER}Tour One,t1@example.org,Uni,DE,offline,,lab-tour\n\
                 Tour Two,t2@example.org,Uni,DE,offline,,lab-tour\n"
            ),
            false,
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        problems(&page)[0].contains("1 too many"),
        "{:?}",
        problems(&page)
    );

    let stats = app.stats(&organiser).await;
    assert_eq!(stats["registered"]["total"], 1, "only the web registration");
}

#[actix_web::test]
async fn a_wrong_header_an_empty_upload_and_other_roles_are_refused() {
    let app = TestApp::spawn().await;
    app.as_organiser().await;
    let (status, page) = app.upload("name,mail\nA,a@example.org\n", false).await;
    assert_eq!(status, 422);
    assert!(problems(&page)[0].contains("unknown column “mail”"));
    let (status, page) = app.upload("", false).await;
    assert_eq!(status, 422);
    assert!(text(&page, "[role=alert]").contains("choose a CSV file"));

    let door = TestApp::spawn().await;
    door.create_staff("dora", "door", None).await;
    door.login("dora", PASSWORD).await;
    let response = door.get(&format!("/admin/events/{EVENT}/import")).await;
    assert_eq!(response.status().as_u16(), 403);
}

#[actix_web::test]
async fn ten_thousand_rows_import_in_one_go() {
    let app = TestApp::spawn().await;
    let organiser = app.as_organiser().await;
    app.lift_capacities().await;
    let mut file = HEADER.to_string();
    for i in 0..10_000 {
        let (country, mode, sessions) = match i % 4 {
            0 => ("DE", "offline", "keynote;lab-tour"),
            1 => ("France", "online", "keynote;webinar"),
            2 => ("ch", "In person", ""),
            _ => ("Netherlands", "online", "webinar"),
        };
        file.push_str(&format!(
            "Person {i},person{i}@example.org,Institute {},{country},{mode},,{sessions}\n",
            i % 37
        ));
    }
    let (status, page) = app.upload(&file, false).await;
    assert_eq!(status, 200, "{:?}", problems(&page));
    let stats = app.stats(&organiser).await;
    assert_eq!(stats["registered"]["total"], 10_000);
    assert_eq!(stats["registered"]["offline"], 5_000);
    let countries: Vec<(String, i64)> = stats["by_country"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_string(),
                c["registered"].as_i64().unwrap(),
            )
        })
        .collect();
    for code in ["DE", "FR", "CH", "NL"] {
        assert!(
            countries.contains(&(code.to_string(), 2_500)),
            "{code} in {countries:?}"
        );
    }
    // Seats per session, as the report and the registration page read them.
    let seats = |slug: &str| {
        let session = stats["by_session"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slug"] == slug)
            .unwrap()
            .clone();
        (
            session["registered_offline"].as_i64().unwrap(),
            session["registered_online"].as_i64().unwrap(),
        )
    };
    assert_eq!(seats("keynote"), (2_500, 2_500));
    assert_eq!(seats("lab-tour"), (2_500, 0));
    assert_eq!(seats("webinar"), (0, 5_000));
    let codes: std::collections::HashSet<String> = app
        .db(|conn| {
            Ok(schema::participants::table
                .select(schema::participants::checkin_code)
                .load(conn)?)
        })
        .await
        .into_iter()
        .collect();
    assert_eq!(codes.len(), 10_000, "every participant has their own code");

    // The export of them, over a megabyte, goes out in pieces: every
    // person once, and as many bytes as its Content-Length said.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/events/{EVENT}/participants.csv")))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), length);
    assert!(length > 1_000_000, "{length} bytes");
    let mut reader = csv::Reader::from_reader(&body[3..]);
    let emails: std::collections::HashSet<String> = reader
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    assert_eq!(emails.len(), 10_000);
    assert!(emails.contains("person9999@example.org"));
}

fn import_command(database: &DatabaseUrl, args: &[&str]) -> std::process::Output {
    let url = database.as_str();
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("import")
        .args(args)
        .env("ROLLCALL_DATABASE_URL", url)
        .env("ROLLCALL_LOG", "warn")
        .output()
        .expect("run the rollcall binary")
}

#[actix_web::test]
async fn the_import_command_checks_everything_first_then_stores_all() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path());
    let pool = db::connect(&database, 1).unwrap();
    seed_test_forum(&mut pool.get().unwrap(), db::now_ms());
    let count = || -> i64 {
        schema::participants::table
            .count()
            .get_result(&mut pool.get().unwrap())
            .unwrap()
    };

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("{HEADER}Fine,fine@example.org,Uni,DE,offline,,\nBroken,broken,Uni,XX,offline,,\n"),
    )
    .unwrap();
    let out = import_command(&database, &["--event", EVENT, bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3: email:"), "{stderr}");
    assert!(stderr.contains("line 3: country:"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(count(), 0);

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("{HEADER}Fine,fine@example.org,Uni,DE,offline,,keynote\nAlso Fine,also@example.org,Uni,Spain,online,,webinar\n"),
    )
    .unwrap();
    let outbox = dir.path().join("outbox");
    let out = import_command(
        &database,
        &[
            "--event",
            EVENT,
            good.to_str().unwrap(),
            "--send-confirmations",
            "--public-url",
            "https://rollcall.example.org",
            "--outbox",
            outbox.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("imported 2 participants"), "{stdout}");
    assert!(stdout.contains("sent 2 confirmations"), "{stdout}");
    assert_eq!(count(), 2);
    let mails: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 2);
    assert!(mails
        .iter()
        .all(|m| m.contains("https://rollcall.example.org/r/")));

    // The same file again: both rows are now taken, and nothing changes.
    let out = import_command(&database, &["--event", EVENT, good.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("line 2: fine@example.org is already registered"));
    assert_eq!(count(), 2);
}

#[actix_web::test]
async fn an_upload_over_the_size_limit_is_refused_with_the_form() {
    let app = TestApp::spawn().await;
    app.as_organiser().await;
    let mut file = HEADER.to_string();
    let row = "Someone,someone@example.org,A very long affiliation name indeed,DE,offline,,\n";
    while file.len() <= rollcall::web::admin_upload_limit() {
        file.push_str(row);
    }
    let (status, page) = app.upload(&file, false).await;
    assert_eq!(status, 413);
    assert!(text(&page, "[role=alert]").contains("larger than 16 MiB"));
    assert_eq!(
        count(&page, "input[type=file]"),
        1,
        "the form is there to try again"
    );
}
