//! The two per-participant secrets. They are independent random values, so a
//! photographed badge (the check-in code) can't open the personal page.

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use rand::RngCore;
use std::fmt;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // ThreadRng is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// What the QR code carries: 128 random bits as 26 upper-case base32
/// characters, which QR encodes in its compact alphanumeric mode.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckinCode(String);

const CHECKIN_CODE_LEN: usize = 26;

impl CheckinCode {
    pub fn generate() -> Self {
        Self(BASE32_NOPAD.encode(&random_bytes::<16>()))
    }

    /// Accepts what a scanner typed: surrounding whitespace and lower case
    /// (a keyboard-wedge scanner with caps lock on) are forgiven.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        let well_formed = code.len() == CHECKIN_CODE_LEN
            && BASE32_NOPAD
                .decode(code.as_bytes())
                .is_ok_and(|bytes| bytes.len() == 16);
        if well_formed {
            Ok(Self(code))
        } else {
            Err("not a Rollcall check-in code".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Secrets never show up in logs through Debug.
impl fmt::Debug for CheckinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckinCode(…)")
    }
}

/// The secret in a participant's personal-page URL `/r/{token}`: 192 random
/// bits as 32 URL-safe base64 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct PageToken(String);

const PAGE_TOKEN_LEN: usize = 32;

impl PageToken {
    pub fn generate() -> Self {
        Self(BASE64URL_NOPAD.encode(&random_bytes::<24>()))
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = raw.len() == PAGE_TOKEN_LEN && BASE64URL_NOPAD.decode(raw.as_bytes()).is_ok();
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err("not a personal-page token".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PageToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageToken(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn checkin_codes_are_26_base32_characters_and_parse_back() {
        let code = CheckinCode::generate();
        assert_eq!(code.as_str().len(), 26);
        assert!(code
            .as_str()
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_eq!(CheckinCode::parse(code.as_str()).unwrap(), code);
        let typed = format!("  {}\n", code.as_str().to_lowercase());
        assert_eq!(CheckinCode::parse(&typed).unwrap(), code);
    }

    #[test]
    fn malformed_checkin_codes_are_rejected() {
        for bad in [
            "",
            "ABC",
            "1111111111111111111111111A",
            &"A".repeat(27),
            "AAAAAAAAAAAAAAAAAAAAAAAAA!",
            "42",
        ] {
            assert!(CheckinCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_do_not_repeat() {
        let codes: HashSet<_> = (0..10_000).map(|_| CheckinCode::generate().0).collect();
        assert_eq!(codes.len(), 10_000);
        let tokens: HashSet<_> = (0..10_000).map(|_| PageToken::generate().0).collect();
        assert_eq!(tokens.len(), 10_000);
    }

    #[test]
    fn page_tokens_are_url_safe_and_validated() {
        let token = PageToken::generate();
        assert_eq!(token.as_str().len(), 32);
        assert!(token
            .as_str()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(PageToken::parse(token.as_str()).is_ok());
        assert!(PageToken::parse("../../etc/passwd").is_err());
        assert!(PageToken::parse(CheckinCode::generate().as_str()).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let code = CheckinCode::generate();
        assert!(!format!("{code:?}").contains(code.as_str()));
    }
}
