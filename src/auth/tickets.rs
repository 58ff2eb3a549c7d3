//! Short-lived tickets for browsers opening a live WebSocket with a device
//! token (a browser can't set headers on a WebSocket): an HMAC over the
//! event and an expiry, handed out to a caller already allowed to watch.

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const LIFETIME_MS: i64 = 60_000;

/// Keyed once at start-up; each ticket clones it.
pub struct TicketKey(Hmac<Sha256>);

impl TicketKey {
    pub fn new(secret: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(TicketKey(<Hmac<Sha256> as Mac>::new_from_slice(secret)?))
    }

    fn mac(&self, event_id: i32, expires_at: i64) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(format!("rollcall-live:{event_id}:{expires_at}").as_bytes());
        mac
    }

    pub fn issue(&self, event_id: i32, now_ms: i64) -> String {
        let expires_at = now_ms + LIFETIME_MS;
        let tag = BASE64URL_NOPAD.encode(&self.mac(event_id, expires_at).finalize().into_bytes());
        format!("{event_id}.{expires_at}.{tag}")
    }

    /// Whether `ticket` admits to `event_id` now (constant-time tag check).
    pub fn admits(&self, ticket: &str, event_id: i32, now_ms: i64) -> bool {
        let mut parts = ticket.splitn(3, '.');
        let (Some(event), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(event), Ok(expires_at), Ok(tag)) = (
            event.parse::<i32>(),
            expires.parse::<i64>(),
            BASE64URL_NOPAD.decode(tag.as_bytes()),
        ) else {
            return false;
        };
        event == event_id
            && now_ms <= expires_at
            && self.mac(event, expires_at).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_admits_to_its_event_until_it_expires() {
        let key = TicketKey::new(b"secret").unwrap();
        let ticket = key.issue(7, 1_000);
        assert!(key.admits(&ticket, 7, 1_000 + LIFETIME_MS));
        assert!(!key.admits(&ticket, 8, 1_000), "another event");
        assert!(!key.admits(&ticket, 7, 1_001 + LIFETIME_MS), "expired");
        assert!(
            !TicketKey::new(b"other").unwrap().admits(&ticket, 7, 1_000),
            "another key"
        );
        let forged = ticket.replacen("7.", "7.9", 1);
        assert!(!key.admits(&forged, 7, 1_000));
        assert!(!key.admits("garbage", 7, 0));
    }
}
