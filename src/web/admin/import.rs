//! The upload form for a participant list: the same import as the
//! `rollcall import` command, with its problems listed on the page.

use super::event_for;
use crate::auth::Permission;
use crate::db::events::Event;
use crate::domain::import::{ImportProblem, ImportProblems, COLUMNS};
use crate::import;
use crate::web::auth::Staff;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::{render_with_csrf, AppState};
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::StreamExt;

/// Largest file accepted: 100,000 rows of ordinary length fit well inside.
pub const UPLOAD_LIMIT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Template)]
#[template(path = "admin/import.html")]
struct ImportPage<'a> {
    event_slug: &'a str,
    event_title: &'a str,
    columns: String,
    csrf_token: &'a str,
    /// The form's checkbox as last sent.
    send_confirmations: bool,
    problems: Vec<ImportProblem>,
    unlisted: usize,
    notice: Option<String>,
    imported: Option<usize>,
}

impl<'a> ImportPage<'a> {
    fn new(event: &'a Event, csrf: &'a CsrfToken) -> Self {
        Self {
            event_slug: &event.slug,
            event_title: &event.title,
            columns: COLUMNS.join(","),
            csrf_token: &csrf.token,
            send_confirmations: false,
            problems: Vec::new(),
            unlisted: 0,
            notice: None,
            imported: None,
        }
    }
}

pub async fn form(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let csrf = state.csrf.issue(&req);
    render_with_csrf(StatusCode::OK, &ImportPage::new(&event, &csrf), &csrf)
}

/// What the multipart form carried.
#[derive(Default)]
struct Upload {
    csrf_token: String,
    file: Vec<u8>,
    send_confirmations: bool,
}

/// Reads the form, refusing a file over the limit before it is all in memory.
async fn read_upload(mut payload: Multipart) -> Result<Upload, String> {
    let mut upload = Upload::default();
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| "The upload could not be read. Please try again.")?;
        let name = field.name().unwrap_or_default().to_string();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| "The upload was cut off. Please try again.")?;
            if value.len() + chunk.len() > UPLOAD_LIMIT_BYTES {
                return Err(format!(
                    "The file is larger than {} MiB: split it into smaller files.",
                    UPLOAD_LIMIT_BYTES / (1024 * 1024)
                ));
            }
            value.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => upload.csrf_token = String::from_utf8_lossy(&value).into_owned(),
            "file" => upload.file = value,
            "send_confirmations" => upload.send_confirmations = !value.is_empty(),
            _ => {}
        }
    }
    Ok(upload)
}

pub async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    Staff(caller): Staff,
    slug: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, AppError> {
    let event = event_for(&state, &caller, slug.into_inner(), Permission::ManageEvent).await?;
    let csrf = state.csrf.issue(&req);
    let mut page = ImportPage::new(&event, &csrf);
    let upload = match read_upload(payload).await {
        Ok(upload) => upload,
        Err(message) => {
            page.notice = Some(message);
            return render_with_csrf(StatusCode::PAYLOAD_TOO_LARGE, &page, &csrf);
        }
    };
    page.send_confirmations = upload.send_confirmations;
    if !state.csrf.verify(&req, &upload.csrf_token) {
        page.notice = Some(
            "This form had expired, so nothing was imported. Please choose the file and send it again."
                .into(),
        );
        return render_with_csrf(StatusCode::FORBIDDEN, &page, &csrf);
    }
    if upload.file.is_empty() {
        page.notice = Some("Please choose a CSV file to import.".into());
        return render_with_csrf(StatusCode::UNPROCESSABLE_ENTITY, &page, &csrf);
    }

    match import::import_csv(&state.pool, &event, upload.file, |_| {}).await? {
        Err(ImportProblems { listed, total }) => {
            page.notice = Some(format!(
                "Nothing was imported: {total} problem{} to fix. Correct the file and upload it again.",
                if total == 1 { "" } else { "s" }
            ));
            page.unlisted = total - listed.len();
            page.problems = listed;
            render_with_csrf(StatusCode::UNPROCESSABLE_ENTITY, &page, &csrf)
        }
        Ok(imported) => {
            tracing::info!(
                event_id = event.id,
                rows = imported.len(),
                "participants imported"
            );
            state.live.changed(event.id);
            page.imported = Some(imported.len());
            if upload.send_confirmations {
                // Mail goes out after the answer: the page doesn't wait for
                // thousands of QR images.
                let (mailer, base_url, event) =
                    (state.mailer.clone(), state.base_url.clone(), event.clone());
                actix_web::rt::spawn(async move {
                    import::queue_confirmations(&mailer, &base_url, &event, imported).await;
                });
            }
            render_with_csrf(StatusCode::OK, &page, &csrf)
        }
    }
}
