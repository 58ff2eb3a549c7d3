use super::AppState;
use crate::db;
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

/// 200 when the database answers, 503 otherwise.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let answered = db::run(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?)).await;
    match answered {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}
