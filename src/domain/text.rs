/// Text a person typed: trimmed, inner runs of whitespace folded, no control
/// characters, and a length bound so nothing unbounded reaches the database.
fn clean_text(raw: &str, what: &str, max_chars: usize) -> Result<String, String> {
    if raw.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(format!("The {what} contains characters we can't print."));
    }
    let folded = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return Err(format!("Please enter your {what}."));
    }
    if folded.chars().count() > max_chars {
        return Err(format!(
            "The {what} is too long (at most {max_chars} characters)."
        ));
    }
    Ok(folded)
}

/// A participant's full name as they want it printed on the badge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        clean_text(raw, "full name", 120).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The name as searches match it (see [`fold_for_search`]).
    pub fn folded(&self) -> String {
        fold_for_search(&self.0)
    }
}

/// Text as a search compares it: lower case, with accented letters and
/// other scripts spelt in ASCII (any_ascii), so "Wiśniewska", "WISNIEWSKA"
/// and "wisniewska" are the same, whatever keyboard the door staff have.
pub fn fold_for_search(text: &str) -> String {
    any_ascii::any_ascii(text).to_lowercase()
}

/// The institution a participant represents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affiliation(String);

impl Affiliation {
    pub fn parse(raw: &str) -> Result<Self, String> {
        clean_text(raw, "affiliation", 200).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_folded() {
        assert_eq!(PersonName::parse("  Li   Wei ").unwrap().as_str(), "Li Wei");
        assert_eq!(
            PersonName::parse("José Müller-Øberg").unwrap().as_str(),
            "José Müller-Øberg"
        );
    }

    #[test]
    fn empty_overlong_and_control_characters_are_rejected() {
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"x".repeat(121)).is_err());
        assert!(PersonName::parse("Bob\u{0}").is_err());
        assert!(Affiliation::parse("").is_err());
        assert!(Affiliation::parse(&"y".repeat(200)).is_ok());
    }
}
