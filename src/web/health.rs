//! Probes for load balancers and monitors: liveness and readiness.

use super::AppState;
use crate::db;
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

/// Liveness: the process serves HTTP. Nothing else is touched, so a load
/// balancer's probe costs nothing and the benchmark's baseline is the HTTP
/// stack alone.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: 200 when the database answers, 503 otherwise.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let answered = db::run(&state.pool, |conn| Ok(conn.batch_execute("SELECT 1")?)).await;
    match answered {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}
