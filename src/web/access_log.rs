//! One log line a request, at `info`: its status, its path with personal
//! tokens masked, and how long the answer took. Never queries, bodies,
//! headers or addresses.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::time::Instant;

/// A tracing event of its own rather than actix's `Logger`, whose lines go
/// through the `log` crate's bridge and which works out the masked path
/// for every request, whatever the level: at `warn` this costs a request
/// nothing but a level check.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.call(req).await;
    }
    let began = Instant::now();
    let path = route_shape(req.path());
    let response = next.call(req).await?;
    tracing::info!(
        status = response.status().as_u16(),
        path = %path,
        // Whole microseconds, so the line reads "ms=0.061".
        ms = began.elapsed().as_micros() as f64 / 1e3,
        "request"
    );
    Ok(response)
}

/// The path as logged: a personal page's or a watch link's token replaced
/// by "…" (the token is the key to that person's page); anything else cut
/// to 200 characters.
fn route_shape(path: &str) -> String {
    let masked = path
        .strip_prefix("/r/")
        .map(|rest| ("/r/", rest))
        .or_else(|| {
            path.strip_prefix("/ws/watch/")
                .map(|rest| ("/ws/watch/", rest))
        });
    match masked {
        Some((prefix, rest)) => match rest.split_once('/') {
            Some((_, tail)) => format!("{prefix}…/{tail}"),
            None => format!("{prefix}…"),
        },
        None => path.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_logs_mask_personal_tokens() {
        assert_eq!(super::route_shape("/r/SECRET/qr.png"), "/r/…/qr.png");
        assert_eq!(super::route_shape("/r/SECRET"), "/r/…");
        assert_eq!(super::route_shape("/events/x"), "/events/x");
        assert_eq!(
            super::route_shape("/ws/watch/SECRET/keynote"),
            "/ws/watch/…/keynote"
        );
    }
}
