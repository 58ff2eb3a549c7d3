//! Events and sessions as organisers type them into the admin forms.

use super::registration::check_field;
use super::{FieldErrors, SessionFormat};
use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde::Deserialize;

/// A URL-safe identifier: lower-case letters, digits and single hyphens.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let slug = raw.trim();
    let ok = !slug.is_empty()
        && slug.len() <= 60
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(slug.to_string())
    } else {
        Err(
            "Use 1–60 lower-case letters, digits and single hyphens, e.g. annual-meeting-2026."
                .into(),
        )
    }
}

fn required(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(format!("Please enter the {what}."));
    }
    if text.chars().count() > max {
        return Err(format!(
            "The {what} is too long (at most {max} characters)."
        ));
    }
    Ok(text.to_string())
}

fn optional(raw: &str, what: &str, max: usize) -> Result<String, String> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        required(raw, what, max)
    }
}

/// A `datetime-local` value ("2026-11-24T09:30") in the event's zone, as
/// epoch milliseconds.
pub fn parse_local_time(raw: &str, tz: Tz) -> Result<i64, String> {
    let naive = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| "Please enter a date and time.".to_string())?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| "That time does not exist in this time zone (a clock change).".to_string())
}

/// Epoch milliseconds as a `datetime-local` value in `tz`.
pub fn local_input_value(ms: i64, tz: Tz) -> String {
    crate::timefmt::local(ms, tz)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn parse_capacity(raw: &str) -> Result<Option<i32>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i32>()
        .ok()
        .filter(|n| (0..=1_000_000).contains(n))
        .map(Some)
        .ok_or_else(|| "Enter a whole number of seats, or leave empty for no limit.".into())
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventForm {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub timezone: String,
    pub starts_at: String,
    pub ends_at: String,
    pub checkin_grace_minutes: String,
    pub csrf_token: String,
}

#[derive(Clone, Debug)]
pub struct ValidEvent {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub timezone: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub checkin_grace_minutes: i32,
}

impl EventForm {
    pub fn parse(&self) -> Result<ValidEvent, FieldErrors> {
        let mut errors = FieldErrors::default();
        let slug = check_field(&mut errors, "slug", parse_slug(&self.slug));
        let title = check_field(&mut errors, "title", required(&self.title, "title", 200));
        let description = check_field(
            &mut errors,
            "description",
            optional(&self.description, "description", 5000),
        );
        let venue = check_field(&mut errors, "venue", optional(&self.venue, "venue", 200));
        let tz: Option<Tz> = check_field(
            &mut errors,
            "timezone",
            self.timezone.trim().parse::<Tz>().map_err(|_| {
                "Use an IANA time zone such as Europe/Berlin or Asia/Shanghai.".to_string()
            }),
        );
        let grace = check_field(
            &mut errors,
            "checkin_grace_minutes",
            self.checkin_grace_minutes
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|m| (0..=24 * 60).contains(m))
                .ok_or_else(|| "Enter minutes from 0 to 1440.".to_string()),
        );
        let (starts_at, ends_at) = match tz {
            Some(tz) => (
                check_field(
                    &mut errors,
                    "starts_at",
                    parse_local_time(&self.starts_at, tz),
                ),
                check_field(&mut errors, "ends_at", parse_local_time(&self.ends_at, tz)),
            ),
            None => (None, None),
        };
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                errors.add("ends_at", "The end must come after the start.");
            }
        }
        match (
            slug,
            title,
            description,
            venue,
            tz,
            starts_at,
            ends_at,
            grace,
        ) {
            (
                Some(slug),
                Some(title),
                Some(description),
                Some(venue),
                Some(tz),
                Some(starts_at),
                Some(ends_at),
                Some(grace),
            ) if errors.is_empty() => Ok(ValidEvent {
                slug,
                title,
                description,
                venue,
                timezone: tz.name().to_string(),
                starts_at,
                ends_at,
                checkin_grace_minutes: grace,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionForm {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub room: String,
    pub starts_at: String,
    pub ends_at: String,
    pub format: String,
    pub capacity_offline: String,
    pub capacity_online: String,
    pub stream_url: String,
    pub members_only: Option<String>,
    pub join_opens_minutes: String,
    pub join_closes_minutes: String,
    pub online_min_minutes: String,
    pub csrf_token: String,
}

#[derive(Clone, Debug)]
pub struct ValidSession {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub room: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub format: SessionFormat,
    pub capacity_offline: Option<i32>,
    pub capacity_online: Option<i32>,
    pub stream_url: Option<String>,
    pub members_only: bool,
    pub join_opens_minutes: i32,
    pub join_closes_minutes: i32,
    pub online_min_minutes: i32,
}

/// Whole minutes from 0 to a day; empty means `default`.
fn parse_minutes(raw: &str, default: i32) -> Result<i32, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(default);
    }
    raw.parse::<i32>()
        .ok()
        .filter(|m| (0..=24 * 60).contains(m))
        .ok_or_else(|| "Enter whole minutes from 0 to 1440.".into())
}

impl SessionForm {
    pub fn parse(&self, tz: Tz) -> Result<ValidSession, FieldErrors> {
        let mut errors = FieldErrors::default();
        let slug = check_field(&mut errors, "slug", parse_slug(&self.slug));
        let title = check_field(&mut errors, "title", required(&self.title, "title", 200));
        let description = check_field(
            &mut errors,
            "description",
            optional(&self.description, "description", 5000),
        );
        let room = check_field(&mut errors, "room", optional(&self.room, "room", 120));
        let starts_at = check_field(
            &mut errors,
            "starts_at",
            parse_local_time(&self.starts_at, tz),
        );
        let ends_at = check_field(&mut errors, "ends_at", parse_local_time(&self.ends_at, tz));
        let format = check_field(&mut errors, "format", SessionFormat::parse(&self.format));
        let capacity_offline = check_field(
            &mut errors,
            "capacity_offline",
            parse_capacity(&self.capacity_offline),
        );
        let capacity_online = check_field(
            &mut errors,
            "capacity_online",
            parse_capacity(&self.capacity_online),
        );
        let stream_url = check_field(
            &mut errors,
            "stream_url",
            parse_stream_url(&self.stream_url),
        );
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                errors.add("ends_at", "The end must come after the start.");
            }
        }
        if let (Some(format), Some(None)) = (format, &stream_url) {
            if format != SessionFormat::InPerson {
                errors.add(
                    "stream_url",
                    "Online and hybrid sessions need a stream or meeting URL.",
                );
            }
        }
        let join_opens = check_field(
            &mut errors,
            "join_opens_minutes",
            parse_minutes(&self.join_opens_minutes, 15),
        );
        let join_closes = check_field(
            &mut errors,
            "join_closes_minutes",
            parse_minutes(&self.join_closes_minutes, 0),
        );
        let min_minutes = check_field(
            &mut errors,
            "online_min_minutes",
            parse_minutes(&self.online_min_minutes, 0),
        );
        let valid = (|| {
            Some(ValidSession {
                slug: slug?,
                title: title?,
                description: description?,
                room: room?,
                starts_at: starts_at?,
                ends_at: ends_at?,
                format: format?,
                capacity_offline: capacity_offline?,
                capacity_online: capacity_online?,
                stream_url: stream_url?,
                members_only: self.members_only.as_deref().is_some_and(|v| !v.is_empty()),
                join_opens_minutes: join_opens?,
                join_closes_minutes: join_closes?,
                online_min_minutes: min_minutes?,
            })
        })();
        match valid {
            Some(valid) if errors.is_empty() => Ok(valid),
            _ => Err(errors),
        }
    }
}

fn parse_stream_url(raw: &str) -> Result<Option<String>, String> {
    let url = raw.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 500
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if ok {
        Ok(Some(url.to_string()))
    } else {
        Err("Enter a full http(s):// address.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_with_hyphens() {
        assert_eq!(parse_slug(" zgc-forum-2021 ").unwrap(), "zgc-forum-2021");
        for bad in [
            "",
            "Upper",
            "with space",
            "-lead",
            "trail-",
            "double--hyphen",
            "ünïcode",
            "a/b",
        ] {
            assert!(parse_slug(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_times_are_read_in_the_event_zone() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let ms = parse_local_time("2021-09-24T09:30", tz).unwrap();
        assert_eq!(crate::timefmt::rfc3339(ms), "2021-09-24T01:30:00.000Z");
        assert_eq!(local_input_value(ms, tz), "2021-09-24T09:30");
        assert!(parse_local_time("tomorrow", tz).is_err());
    }

    #[test]
    fn a_session_form_reports_each_problem() {
        let form = SessionForm {
            slug: "Bad Slug".into(),
            title: "".into(),
            starts_at: "2026-01-01T10:00".into(),
            ends_at: "2026-01-01T09:00".into(),
            format: "hybrid".into(),
            capacity_offline: "-3".into(),
            ..Default::default()
        };
        let errors = form.parse(chrono_tz::UTC).unwrap_err();
        for field in ["slug", "title", "ends_at", "capacity_offline", "stream_url"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
    }
}
