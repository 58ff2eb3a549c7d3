use std::sync::OnceLock;

/// A country as an ISO 3166-1 alpha-2 code, checked against celes' list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Country {
    code: &'static str,
    name: &'static str,
}

/// (code, display name) for every country, sorted by name: built once.
fn all() -> &'static [Country] {
    static ALL: OnceLock<Vec<Country>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut list: Vec<Country> = celes::Country::get_countries()
            .iter()
            .map(|c| Country {
                code: c.alpha2,
                name: Box::leak(display_name(c.long_name).into_boxed_str()),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(b.name));
        list
    })
}

/// celes' official names read "The United Kingdom Of Great Britain And
/// Northern Ireland": drop the article and lower the small words.
fn display_name(long_name: &str) -> String {
    let name = long_name.strip_prefix("The ").unwrap_or(long_name);
    name.split(' ')
        .enumerate()
        .map(|(i, word)| match word {
            "Of" | "And" | "The" | "Da" if i > 0 => word.to_lowercase(),
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The same list sorted by code, for lookups: every door answer names the
/// person's country, and a walk through the whole list was 3 % of the door
/// writer's instructions (BENCHMARKS.md history 30).
fn by_code() -> &'static [Country] {
    static BY_CODE: OnceLock<Vec<Country>> = OnceLock::new();
    BY_CODE.get_or_init(|| {
        let mut list = all().to_vec();
        list.sort_by(|a, b| a.code.cmp(b.code));
        list
    })
}

impl Country {
    /// Accepts an alpha-2 code in any case.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("Please choose your country.".into());
        }
        let code = raw.to_ascii_uppercase();
        let list = by_code();
        list.binary_search_by(|c| c.code.cmp(code.as_str()))
            .map(|found| list[found])
            .map_err(|_| "Please choose a country from the list.".to_string())
    }

    /// An alpha-2 code, or an English name or common alias ("Germany",
    /// "United Kingdom", "The Netherlands", "Czech Republic"), as found in
    /// spreadsheets people import.
    pub fn parse_code_or_name(raw: &str) -> Result<Self, String> {
        if let Ok(country) = Country::parse(raw) {
            return Ok(country);
        }
        let squashed: String = raw
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if squashed.is_empty() {
            return Err("Please give a country.".into());
        }
        let without_article = squashed.strip_prefix("the").unwrap_or(&squashed);
        [squashed.as_str(), without_article]
            .iter()
            .find_map(|key| {
                celes::Country::from_name(key)
                    .or_else(|_| celes::Country::from_alias(key))
                    .ok()
            })
            .and_then(|found| Country::parse(found.alpha2).ok())
            .ok_or_else(|| {
                format!(
                    "“{}” is not a country we know: use the two-letter ISO code (e.g. DE) or the English name.",
                    raw.trim()
                )
            })
    }

    /// Every country, sorted by display name, for the form's `<select>`.
    pub fn all() -> &'static [Country] {
        all()
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The name for a stored code; the code itself if the list ever drops it.
    pub fn name_of(code: &str) -> String {
        Country::parse(code)
            .map(|c| c.name.to_string())
            .unwrap_or_else(|_| code.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::Country;

    #[test]
    fn codes_parse_in_any_case_and_carry_readable_names() {
        let gb = Country::parse("gb").unwrap();
        assert_eq!(gb.code(), "GB");
        assert_eq!(
            gb.name(),
            "United Kingdom of Great Britain and Northern Ireland"
        );
        assert_eq!(Country::parse("NL").unwrap().name(), "Netherlands");
        assert_eq!(Country::parse(" cn ").unwrap().name(), "China");
    }

    #[test]
    fn unknown_and_empty_codes_are_rejected() {
        assert!(Country::parse("").is_err());
        assert!(Country::parse("XX").is_err());
        assert!(Country::parse("GBR").is_err());
        assert!(Country::parse("Germany").is_err());
    }

    #[test]
    fn imports_may_name_countries_in_english() {
        let code = |raw| Country::parse_code_or_name(raw).map(|c| c.code());
        assert_eq!(code("Germany"), Ok("DE"));
        assert_eq!(code("united kingdom"), Ok("GB"));
        assert_eq!(code("The Netherlands"), Ok("NL"));
        assert_eq!(code("Netherlands"), Ok("NL"));
        assert_eq!(code("Czech Republic"), Ok("CZ"));
        assert_eq!(code("ch"), Ok("CH"));
        assert!(code("Atlantis").unwrap_err().contains("Atlantis"));
        assert!(code(" ").is_err());
    }

    #[test]
    fn every_listed_code_finds_its_own_country() {
        for country in Country::all() {
            assert_eq!(Country::parse(country.code()), Ok(*country));
            assert_eq!(Country::parse(&country.code().to_lowercase()), Ok(*country));
            assert_eq!(Country::name_of(country.code()), country.name());
        }
        assert_eq!(Country::name_of("XX"), "XX");
    }

    #[test]
    fn the_list_is_complete_and_sorted() {
        let all = Country::all();
        assert!(all.len() >= 249);
        assert!(all.windows(2).all(|w| w[0].name() <= w[1].name()));
    }
}
