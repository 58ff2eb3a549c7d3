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
    /// The database is out of reach; the detail is for the log.
    #[error("the database is not answering")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            AppError::Unavailable(e.to_string())
        } else {
            AppError::Unexpected(e.into())
        }
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
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            AppError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "request: the database is out of reach");
                (
                    "Please try again in a moment",
                    "Rollcall cannot reach its database just now. If you were sending a form, nothing was saved and what you entered is still in your browser: go back and send it again in a moment.",
                )
            }
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
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, AppError::Unavailable(_)) {
            response.insert_header(("retry-after", super::api::RETRY_AFTER_SECONDS));
        }
        response.content_type("text/html; charset=utf-8").body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    /// A page whose database is out of reach says to try again, as a 503.
    #[test]
    fn a_page_whose_database_is_out_of_reach_says_to_try_again() {
        let response =
            AppError::from(DbError::Unavailable("connection refused".into())).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "5");
        let body = response.into_body().try_into_bytes().unwrap();
        let page = String::from_utf8_lossy(&body);
        assert!(page.contains("Please try again in a moment"), "{page}");
        assert!(page.contains("nothing was saved"), "{page}");
    }
}
