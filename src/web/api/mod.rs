//! The JSON API under /api/v1. Errors are JSON with a reason, mapped once here.

pub mod checkins;
pub mod exports;

use crate::db::DbError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<&'static str>,
    },
    #[error("a valid device token (Authorization: Bearer) or a staff sign-in is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The database is out of reach; the detail is for the log.
    #[error("the database is not answering; nothing was recorded by this request, try again in a moment")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            field: Some(field),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Unexpected(e.into())
        }
    }
}

/// How long a client is told to wait before trying again when the database
/// is out of reach (the scan page retries on its own every 3 s).
pub(crate) const RETRY_AFTER_SECONDS: &str = "5";

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Unexpected(error) => {
                tracing::error!(error = format!("{error:#}"), "API request failed");
                "internal error; nothing was recorded by this request".to_string()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "API request: the database is out of reach");
                self.to_string()
            }
            other => other.to_string(),
        };
        let field = match self {
            ApiError::BadRequest { field, .. } => *field,
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header(("www-authenticate", "Bearer"));
        }
        if matches!(self, ApiError::Unavailable(_)) {
            response.insert_header(("retry-after", RETRY_AFTER_SECONDS));
        }
        response.json(ErrorBody {
            error: &message,
            field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    /// A database out of reach is a 503 the client may retry, with the
    /// reason; a connection closed under a statement counts too.
    #[test]
    fn a_database_out_of_reach_answers_503_with_a_reason_and_retry_after() {
        let closed = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_string()),
        );
        for error in [
            DbError::Unavailable("connection refused".into()),
            DbError::Query(closed),
        ] {
            let response = ApiError::from(error).error_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers().get("retry-after").unwrap(), "5");
            let body = response.into_body().try_into_bytes().unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let reason = body["error"].as_str().unwrap();
            assert!(reason.contains("nothing was recorded"), "{reason}");
            assert!(reason.contains("try again"), "{reason}");
        }
        let other = ApiError::from(DbError::Corrupt("x".into())).error_response();
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
