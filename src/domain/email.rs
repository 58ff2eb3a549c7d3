use std::fmt;

/// A syntactically valid email address, trimmed, stored lower-case so that one
/// person can't register twice by changing the case of their address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("Please enter your email address.".into());
        }
        if trimmed.len() > MAX_LEN {
            return Err("That email address is too long.".into());
        }
        let lowered = trimmed.to_lowercase();
        let parsed = email_address::EmailAddress::parse_with_options(
            &lowered,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal(),
        )
        .map_err(|_| "That doesn't look like an email address (name@example.org).".to_string())?;
        // A bare host ("me@localhost") can't receive mail from us.
        if !parsed.domain().contains('.') {
            return Err("That doesn't look like an email address (name@example.org).".into());
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn valid_addresses_are_trimmed_and_lowercased() {
        let email = Email::parse("  Ada.Lovelace@Example.ORG ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.org");
        assert!(Email::parse("li.wei+zgc@ucas.ac.cn").is_ok());
    }

    #[test]
    fn invalid_addresses_are_rejected_with_a_reason() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.org",
            "a@",
            "a@@b.org",
            "a b@c.org",
            "me@localhost",
            "Ada <ada@example.org>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
