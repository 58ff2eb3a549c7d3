//! Device tokens: 256 random bits, shown once; only their SHA-256 is stored.
//! A token has that much entropy, so a fast hash is enough and lookups stay
//! an indexed equality match.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "rc_";

pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", BASE64URL_NOPAD.encode(&bytes))
}

/// The stored form of a token; `None` for text that can't be one of ours.
pub fn digest(token: &str) -> Option<String> {
    let body = token.trim().strip_prefix(PREFIX)?;
    if body.len() != 43 || BASE64URL_NOPAD.decode(body.as_bytes()).is_err() {
        return None;
    }
    Some(HEXLOWER.encode(&Sha256::digest(token.trim().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_and_digest_stably() {
        let token = generate();
        assert!(token.starts_with("rc_"));
        assert_eq!(digest(&token), digest(&format!(" {token}\n")));
        assert_eq!(digest(&token).unwrap().len(), 64);
        assert_ne!(digest(&token), digest(&generate()));
    }

    #[test]
    fn foreign_text_is_not_a_token() {
        assert_eq!(digest("Bearer"), None);
        assert_eq!(digest("rc_short"), None);
        assert_eq!(digest(""), None);
    }
}
