//! The one place where failures become HTTP responses. Users get a short
//! page in their words; the full error chain goes to the log.

use crate::db::DbError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// Not signed in: sent to the sign-in page, then back to this path.
    #[error("sign-in required")]
    LoginRequired(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Unexpected(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::LoginRequired(_) => StatusCode::SEE_OTHER,
            AppError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::LoginRequired(next) = self {
            let target = format!(
                "/login?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            );
            return HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, target))
                .finish();
        }
        let (title, message) = match self {
            AppError::NotFound => (
                "Not found",
                "There is nothing here. If you followed a link from an email, check that it was copied whole.",
            ),
            AppError::BadRequest(reason) => ("That request could not be read", reason.as_str()),
            AppError::Forbidden(reason) => ("Not allowed", reason.as_str()),
            AppError::LoginRequired(_) => ("Sign-in required", "Please sign in."),
            AppError::Unexpected(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                (
                    "Something went wrong",
                    "Sorry, that did not work. Nothing you entered was lost on our side; please try again in a moment.",
                )
            }
        };
        let body = ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| title.to_string());
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
