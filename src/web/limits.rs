//! Per-address rate limits where a stranger could flood or guess:
//! registrations, and failed lookups of personal-page tokens (so nobody can
//! walk through tokens; they are 256-bit, so this is belt and braces). A
//! lookup that finds its page costs nothing: a venue's whole audience behind
//! one NAT address can open its pages and join links at once. Door devices
//! and staff are authenticated and never limited here: a door rush must not
//! be slowed.
//!
//! Behind a reverse proxy every request comes from the proxy's address, so
//! the limits would count the whole audience as one client. Proxies named
//! in `trusted_proxies` may say who the client is in `X-Forwarded-For`;
//! nobody else's header is believed (anyone can send one).

use super::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// Registrations accepted per address per minute.
    pub registrations_per_minute: u32,
    /// Personal-page lookups that find nothing, per address per minute;
    /// past it, that address gets 429 on every personal link for a minute.
    pub failed_lookups_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            registrations_per_minute: 30,
            failed_lookups_per_minute: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

pub struct RateLimits {
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    failed_lookups: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that used up their failed lookups, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    trusted_proxies: Vec<IpAddr>,
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
            trusted_proxies: config.trusted_proxies,
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the last address in `X-Forwarded-For` that isn't one of ours
    /// (proxies append, so what a client wrote itself sits further left and
    /// is never taken past an untrusted hop).
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let mut hops = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        while let Some(hop) = hops.pop() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return Some(ip),
                // Garbage from the proxy chain: trust nothing further left.
                Err(_) => break,
            }
        }
        Some(peer)
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
    let state = personal
        .then(|| req.app_data::<web::Data<AppState>>().cloned())
        .flatten();
    let ip = state
        .as_ref()
        .and_then(|state| state.limits.client_ip(req.peer_addr(), req.headers()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn client(peer: [u8; 4], forwarded: &[&str]) -> Option<IpAddr> {
        let limits = RateLimits::new(RateLimitConfig {
            trusted_proxies: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([10, 0, 0, 1])],
            ..Default::default()
        });
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(
                header::HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        limits.client_ip(Some(SocketAddr::from((peer, 4000))), &headers)
    }

    #[test]
    fn the_client_is_the_last_address_no_proxy_of_ours_added() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(client([127, 0, 0, 1], &["192.0.2.7"]), ip("192.0.2.7"));
        assert_eq!(
            client([127, 0, 0, 1], &["198.51.100.1, 192.0.2.7", "10.0.0.1"]),
            ip("192.0.2.7"),
            "our second proxy's hop is skipped, the client's own claim is not taken"
        );
        assert_eq!(client([127, 0, 0, 1], &[]), ip("127.0.0.1"));
        assert_eq!(
            client([127, 0, 0, 1], &["192.0.2.7, not-an-address"]),
            ip("127.0.0.1"),
            "garbage in the chain: nothing further left is believed"
        );
        assert_eq!(
            client([192, 0, 2, 50], &["203.0.113.9"]),
            ip("192.0.2.50"),
            "only trusted proxies may name the client"
        );
    }
}
