//! Times as people read them, in the event's own time zone.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

pub fn local(ms: i64, tz: Tz) -> DateTime<Tz> {
    let utc = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    utc.with_timezone(&tz)
}

pub fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// "2026-11-24T06:40:00.123Z": for JSON.
pub fn rfc3339(ms: i64) -> String {
    utc(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// "Tue 24 Nov 2026"
pub fn day(ms: i64, tz: Tz) -> String {
    local(ms, tz).format("%a %-d %b %Y").to_string()
}

/// "14:30"
pub fn clock(ms: i64, tz: Tz) -> String {
    local(ms, tz).format("%H:%M").to_string()
}

/// "Tue 24 Nov 2026, 14:30–16:00", or with both days when it spans midnight.
pub fn span(start: i64, end: i64, tz: Tz) -> String {
    if day(start, tz) == day(end, tz) {
        format!(
            "{}, {}–{}",
            day(start, tz),
            clock(start, tz),
            clock(end, tz)
        )
    } else {
        format!(
            "{}, {} – {}, {}",
            day(start, tz),
            clock(start, tz),
            day(end, tz),
            clock(end, tz)
        )
    }
}

/// "24–26 Nov 2026" style range of days for an event.
pub fn day_range(start: i64, end: i64, tz: Tz) -> String {
    let (a, b) = (day(start, tz), day(end, tz));
    if a == b {
        a
    } else {
        format!("{a} – {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_shown_in_the_event_time_zone() {
        // 2021-09-24 01:30 UTC is 09:30 in Beijing.
        let start = 1_632_447_000_000;
        let end = start + 90 * 60 * 1000;
        assert_eq!(
            span(start, end, zone("Asia/Shanghai")),
            "Fri 24 Sep 2021, 09:30–11:00"
        );
        assert_eq!(clock(start, zone("not/a-zone")), "01:30");
    }
}
