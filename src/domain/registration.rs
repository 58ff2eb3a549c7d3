//! A registration as typed into the form, and the validated registration it
//! becomes. Errors are per field, in the registrant's words.

use super::{Affiliation, AttendanceMode, Category, Country, Email, PersonName, SessionFormat};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The form exactly as posted. Every field defaults to empty so a missing
/// field is a message next to it, not a rejected request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegistrationForm {
    pub full_name: String,
    pub email: String,
    pub affiliation: String,
    pub country: String,
    pub mode: String,
    pub category: String,
    pub sessions: Vec<String>,
    pub consent: Option<String>,
    pub csrf_token: String,
}

impl RegistrationForm {
    pub fn has_session(&self, slug: &str) -> bool {
        self.sessions.iter().any(|s| s == slug)
    }
}

/// What registration needs to know about a session on offer.
#[derive(Clone, Debug)]
pub struct SessionChoice {
    pub id: i32,
    pub slug: String,
    pub title: String,
    pub format: SessionFormat,
    pub members_only: bool,
}

/// Who a participant is: the fields the registration form and the
/// organisers' edit form share.
#[derive(Clone, Debug)]
pub struct PersonDetails {
    pub full_name: PersonName,
    pub email: Email,
    pub affiliation: Affiliation,
    pub country: Country,
    pub mode: AttendanceMode,
    pub category: Category,
}

/// The raw text of those fields, as posted.
pub struct PersonFields<'a> {
    pub full_name: &'a str,
    pub email: &'a str,
    pub affiliation: &'a str,
    pub country: &'a str,
    pub mode: &'a str,
    pub category: &'a str,
}

impl PersonDetails {
    /// The parsed details, or `None` with a message per wrong field in `errors`.
    pub fn parse(fields: &PersonFields, errors: &mut FieldErrors) -> Option<PersonDetails> {
        let full_name = check_field(errors, "full_name", PersonName::parse(fields.full_name));
        let email = check_field(errors, "email", Email::parse(fields.email));
        let affiliation = check_field(
            errors,
            "affiliation",
            Affiliation::parse(fields.affiliation),
        );
        let country = check_field(errors, "country", Country::parse(fields.country));
        let mode = check_field(errors, "mode", AttendanceMode::parse(fields.mode));
        let category = check_field(errors, "category", Category::parse(fields.category));
        Some(PersonDetails {
            full_name: full_name?,
            email: email?,
            affiliation: affiliation?,
            country: country?,
            mode: mode?,
            category: category?,
        })
    }
}

/// A registration that passed every check the form can make. Capacity is
/// checked by the database when it is stored.
#[derive(Clone, Debug)]
pub struct NewRegistration {
    pub person: PersonDetails,
    /// (session id, the seat taken there)
    pub sessions: Vec<(i32, AttendanceMode)>,
}

/// Messages keyed by form field name; empty means the form is valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

/// The value, or `None` with the error noted against `field` (the first
/// error per field wins).
pub fn check_field<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    parsed: Result<T, String>,
) -> Option<T> {
    parsed.map_err(|message| errors.add(field, message)).ok()
}

impl NewRegistration {
    pub fn parse(
        form: &RegistrationForm,
        offered: &[SessionChoice],
    ) -> Result<NewRegistration, FieldErrors> {
        let mut errors = FieldErrors::default();
        let person = PersonDetails::parse(
            &PersonFields {
                full_name: &form.full_name,
                email: &form.email,
                affiliation: &form.affiliation,
                country: &form.country,
                mode: &form.mode,
                category: &form.category,
            },
            &mut errors,
        );
        // The session rules need mode and category even when another field
        // is wrong, so every problem is reported at once.
        let mode = AttendanceMode::parse(&form.mode).ok();
        let category = Category::parse(&form.category).ok();
        let sessions = check_field(
            &mut errors,
            "sessions",
            choose_sessions(&form.sessions, offered, mode, category),
        );
        if form.consent.as_deref().is_none_or(str::is_empty) {
            errors.add(
                "consent",
                "Please agree to the processing of your data to register.",
            );
        }
        match (person, sessions) {
            (Some(person), Some(sessions)) if errors.is_empty() => {
                Ok(NewRegistration { person, sessions })
            }
            _ => Err(errors),
        }
    }
}

/// Resolves chosen slugs to sessions and the seat taken in each. Mode and
/// category are `None` when they were themselves invalid: the session rules
/// that depend on them wait until they are fixed.
pub(super) fn choose_sessions(
    slugs: &[String],
    offered: &[SessionChoice],
    mode: Option<AttendanceMode>,
    category: Option<Category>,
) -> Result<Vec<(i32, AttendanceMode)>, String> {
    let mut chosen: Vec<(i32, AttendanceMode)> = Vec::new();
    for slug in slugs {
        let session = offered
            .iter()
            .find(|s| &s.slug == slug)
            .ok_or_else(|| format!("“{slug}” is not a session on this event's programme."))?;
        if chosen.iter().any(|(id, _)| *id == session.id) {
            continue;
        }
        if session.members_only && category.is_some_and(|c| c != Category::MemberRepresentative) {
            return Err(format!(
                "“{}” is for member representatives only.",
                session.title
            ));
        }
        let Some(mode) = mode else { continue };
        let seat = session.format.seat_for(mode).ok_or_else(|| {
            format!(
                "“{}” takes place in person only: choose “In person” to attend it.",
                session.title
            )
        })?;
        chosen.push((session.id, seat));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<SessionChoice> {
        let session = |id, slug: &str, format, members_only| SessionChoice {
            id,
            slug: slug.into(),
            title: slug.to_uppercase(),
            format,
            members_only,
        };
        vec![
            session(1, "agm", SessionFormat::Hybrid, true),
            session(2, "keynote", SessionFormat::Hybrid, false),
            session(3, "lab-tour", SessionFormat::InPerson, false),
            session(4, "webinar", SessionFormat::Online, false),
        ]
    }

    fn valid_form() -> RegistrationForm {
        RegistrationForm {
            full_name: "Ada Lovelace".into(),
            email: "ada@example.org".into(),
            affiliation: "Analytical Society".into(),
            country: "GB".into(),
            mode: "offline".into(),
            category: "delegate".into(),
            sessions: vec![
                "keynote".into(),
                "lab-tour".into(),
                "webinar".into(),
                "keynote".into(),
            ],
            consent: Some("yes".into()),
            csrf_token: String::new(),
        }
    }

    #[test]
    fn a_valid_form_becomes_a_registration_with_seats() {
        let reg = NewRegistration::parse(&valid_form(), &offered()).unwrap();
        assert_eq!(reg.person.email.as_str(), "ada@example.org");
        assert_eq!(
            reg.sessions,
            vec![
                (2, AttendanceMode::Offline),
                (3, AttendanceMode::Offline),
                (4, AttendanceMode::Online)
            ]
        );
    }

    #[test]
    fn every_wrong_field_gets_its_own_message() {
        let form = RegistrationForm {
            sessions: vec!["nope".into()],
            consent: None,
            ..Default::default()
        };
        let errors = NewRegistration::parse(&form, &offered()).unwrap_err();
        for field in [
            "full_name",
            "email",
            "affiliation",
            "country",
            "mode",
            "category",
            "sessions",
            "consent",
        ] {
            assert!(errors.get(field).is_some(), "no message for {field}");
        }
    }

    #[test]
    fn members_only_sessions_need_a_member_representative() {
        let mut form = valid_form();
        form.sessions = vec!["agm".into()];
        let errors = NewRegistration::parse(&form, &offered()).unwrap_err();
        assert!(errors
            .get("sessions")
            .unwrap()
            .contains("member representatives"));
        form.category = "member_representative".into();
        assert!(NewRegistration::parse(&form, &offered()).is_ok());
    }

    #[test]
    fn online_participants_cannot_take_room_only_sessions() {
        let mut form = valid_form();
        form.mode = "online".into();
        let errors = NewRegistration::parse(&form, &offered()).unwrap_err();
        assert!(errors.get("sessions").unwrap().contains("in person only"));
        assert_eq!(errors.len(), 1);
    }
}
