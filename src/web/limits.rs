//! Per-address rate limits where a stranger could flood or guess:
//! registrations, and failed lookups of personal-page tokens (so nobody can
//! walk through tokens; they are 256-bit, so this is belt and braces). A
//! lookup that finds its page costs nothing: a venue's whole audience behind
//! one NAT address can open its pages and join links at once. Door devices
//! and staff are authenticated and never limited here: a door rush must not
//! be slowed.

use super::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct RateLimitConfig {
    /// Registrations accepted per address per minute.
    pub registrations_per_minute: u32,
    /// Personal-page lookups that find nothing, per address per minute;
    /// past it, that address gets 429 on every personal link for a minute.
    pub failed_lookups_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            registrations_per_minute: 30,
            failed_lookups_per_minute: 30,
        }
    }
}

pub struct RateLimits {
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    failed_lookups: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that used up their failed lookups, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

const BLOCK_FOR: Duration = Duration::from_secs(60);

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            registrations: RateLimiter::keyed(per_minute(config.registrations_per_minute)),
            failed_lookups: RateLimiter::keyed(per_minute(config.failed_lookups_per_minute)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when this address registered too often.
    pub fn allow_registration(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        self.registrations
            .check_key(&ip)
            .map_err(|_| BLOCK_FOR.as_secs())
    }

    fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => Some(*until - Instant::now()),
            Some(_) => {
                blocked.remove(&ip);
                None
            }
            None => None,
        }
    }

    fn note_failed_lookup(&self, ip: IpAddr) {
        if self.failed_lookups.check_key(&ip).is_err() {
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if blocked.len() > 10_000 {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, now + BLOCK_FOR);
            tracing::warn!("an address is guessing personal links: blocked for a minute");
        }
    }
}

/// A 429 with `Retry-After`.
pub fn too_many(retry_after_secs: u64, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
        .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
        .content_type("text/plain; charset=utf-8")
        .body(message.to_string())
}

/// Middleware for personal links (`/r/…`, `/ws/watch/…`): refuses an address
/// that has guessed too often, and counts each lookup that found nothing.
pub async fn guard_personal_links(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let path = req.path();
    let personal = path.starts_with("/r/") || path.starts_with("/ws/watch/");
    let ip = req.peer_addr().map(|a| a.ip());
    let state = personal
        .then(|| req.app_data::<web::Data<AppState>>().cloned())
        .flatten();
    let (Some(ip), Some(state)) = (ip, state) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if let Some(wait) = state.limits.blocked_for(ip) {
        let response = too_many(
            wait.as_secs().max(1),
            "Too many links that lead nowhere came from your network. Please wait a minute and try again.",
        );
        return Ok(req.into_response(response).map_into_right_body());
    }
    let response = next.call(req).await?;
    if response.status() == StatusCode::NOT_FOUND {
        state.limits.note_failed_lookup(ip);
    }
    Ok(response.map_into_left_body())
}
