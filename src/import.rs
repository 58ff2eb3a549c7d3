//! Importing a participant list, for the `import` command and the upload
//! form alike: check every row against the event's programme, store all or
//! nothing, then (if asked) queue the confirmation mails.

use crate::db::imports::{ImportOutcome, Imported};
use crate::db::{self, events::Event, DbError, Pool};
use crate::domain::import::{parse_participants, ImportProblems};
use crate::mail::messages::{self, Recipient};
use crate::mail::Mailer;

/// Checks and stores a CSV file's participants for `event`. `progress` hears
/// the row count once the file is checked (`Checked`) and after each chunk
/// stored (`Stored`).
pub async fn import_csv(
    pool: &Pool,
    event: &Event,
    data: Vec<u8>,
    mut progress: impl FnMut(Progress) + Send + 'static,
) -> Result<Result<Vec<Imported>, ImportProblems>, DbError> {
    let event_id = event.id;
    db::run(pool, move |conn| {
        let offered: Vec<_> = db::events::sessions_of(conn, event_id)?
            .iter()
            .map(|session| session.as_choice())
            .collect();
        // Parsing 100,000 rows is CPU work: it belongs on the blocking pool too.
        let rows = match parse_participants(&data, &offered) {
            Ok(rows) => rows,
            Err(problems) => return Ok(Err(problems)),
        };
        progress(Progress::Checked(rows.len()));
        let mut stored = |n| progress(Progress::Stored(n));
        Ok(
            match db::imports::import(conn, event_id, &rows, db::now_ms(), &mut stored)? {
                ImportOutcome::Imported(imported) => Ok(imported),
                ImportOutcome::Refused(problems) => Err(problems),
            },
        )
    })
    .await
}

#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Every row passed; this many will be stored.
    Checked(usize),
    /// This many are stored (not yet committed).
    Stored(usize),
}

/// Queues one confirmation per imported participant, waiting for room in the
/// queue rather than dropping any. The QR images are built on the blocking
/// pool.
pub async fn queue_confirmations(
    mailer: &Mailer,
    base_url: &str,
    event: &Event,
    imported: Vec<Imported>,
) -> usize {
    let mut queued = 0;
    let mut waiting = imported;
    while !waiting.is_empty() {
        let people: Vec<Imported> = waiting.drain(..waiting.len().min(200)).collect();
        let from = mailer.from().clone();
        let title = event.title.clone();
        let base_url = base_url.to_string();
        let built = actix_web::web::block(move || {
            people
                .iter()
                .map(|p| {
                    let url = format!("{base_url}/r/{}", p.page_token.as_str());
                    let to = Recipient {
                        name: &p.full_name,
                        email: &p.email,
                    };
                    messages::registration_confirmation(&from, &to, &title, &url, &p.checkin_code)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for message in built {
            match message {
                Ok(message) => {
                    mailer.send_waiting(message).await;
                    queued += 1;
                }
                Err(error) => tracing::warn!(%error, "could not build a confirmation"),
            }
        }
    }
    queued
}
