//! The messages dashboards receive (see docs/live-protocol.md): a snapshot
//! of everything, then updates with only what changed, numbered by `seq`.

use crate::db::stats::{
    CategoryStats, CountryStats, EventStats, MinuteCount, ModeTotals, RecentCheckin, SessionStats,
    RECENT_CHECKINS,
};
use serde::Serialize;

#[derive(Serialize)]
struct Snapshot<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    #[serde(flatten)]
    stats: &'a EventStats,
}

pub fn snapshot(seq: u64, stats: &EventStats) -> String {
    serde_json::to_string(&Snapshot {
        kind: "snapshot",
        seq,
        stats,
    })
    .unwrap_or_default()
}

/// What changed between two computations of an event's numbers.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Changes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<ModeTotals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attended: Option<ModeTotals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_shows: Option<ModeTotals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<i64>,
    /// Changed categories (by `category`; the list is fixed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_category: Vec<CategoryStats>,
    /// Changed or new countries (by `code`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_country: Vec<CountryStats>,
    /// Changed sessions (by `slug`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_session: Vec<SessionStats>,
    /// Changed or new minutes (by `minute`); a new minute pushes the
    /// oldest out of the hour. During a door rush one or two minutes change,
    /// not the hour's sixty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arrivals_per_minute: Vec<MinuteCount>,
    /// Check-ins newer than the client's list, newest first: they go in
    /// front, and the list keeps its first [`RECENT_CHECKINS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent_added: Vec<RecentCheckin>,
    /// The whole list, when it changed other than by new check-ins (an
    /// undo took one away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent: Option<Vec<RecentCheckin>>,
}

impl Changes {
    pub fn touches_recent(&self) -> bool {
        !self.recent_added.is_empty() || self.recent.is_some()
    }

    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// How a client holding `old` gets to `new`: the check-ins added in front,
/// or (when that doesn't explain it) the whole list.
fn recent_change(
    old: &[RecentCheckin],
    new: &[RecentCheckin],
) -> (Vec<RecentCheckin>, Option<Vec<RecentCheckin>>) {
    if old == new {
        return (Vec::new(), None);
    }
    let cap = RECENT_CHECKINS as usize;
    // Only check-ins no older than the client's newest are added ones: a
    // list that lost one (an undo) and refilled from below is not.
    let newest = old.first().map(|c| c.at.as_str()).unwrap_or_default();
    for added in 1..=new.len() {
        if new[added - 1].at.as_str() < newest {
            break;
        }
        let kept = &new[added..];
        let expected_len = (added + old.len()).min(cap);
        if kept.len() <= old.len() && old[..kept.len()] == *kept && new.len() == expected_len {
            return (new[..added].to_vec(), None);
        }
    }
    (Vec::new(), Some(new.to_vec()))
}

pub enum Diff {
    Same,
    Changes(Box<Changes>),
    /// Something disappeared (a session deleted): clients need a snapshot.
    Reset,
}

pub fn diff(old: &EventStats, new: &EventStats) -> Diff {
    if old == new {
        return Diff::Same;
    }
    let lost_country = old
        .by_country
        .iter()
        .any(|o| !new.by_country.iter().any(|n| n.code == o.code));
    let sessions_moved = old.by_session.len() != new.by_session.len()
        || old
            .by_session
            .iter()
            .zip(&new.by_session)
            .any(|(o, n)| o.slug != n.slug);
    if lost_country || sessions_moved {
        return Diff::Reset;
    }
    let changed = |old, new: &ModeTotals| (old != new).then(|| new.clone());
    let (recent_added, recent) = recent_change(&old.recent, &new.recent);
    Diff::Changes(Box::new(Changes {
        registered: changed(&old.registered, &new.registered),
        attended: changed(&old.attended, &new.attended),
        no_shows: changed(&old.no_shows, &new.no_shows),
        cancelled: (old.cancelled != new.cancelled).then_some(new.cancelled),
        by_category: new
            .by_category
            .iter()
            .filter(|n| !old.by_category.contains(n))
            .cloned()
            .collect(),
        by_country: new
            .by_country
            .iter()
            .filter(|n| !old.by_country.contains(n))
            .cloned()
            .collect(),
        by_session: new
            .by_session
            .iter()
            .zip(&old.by_session)
            .filter(|(n, o)| n != o)
            .map(|(n, _)| n.clone())
            .collect(),
        arrivals_per_minute: new
            .arrivals_per_minute
            .iter()
            .filter(|n| !old.arrivals_per_minute.contains(n))
            .cloned()
            .collect(),
        recent_added,
        recent,
    }))
}

#[derive(Serialize)]
struct Update<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    /// The `seq` of the numbers this update changes.
    since: u64,
    #[serde(flatten)]
    changes: &'a Changes,
}

pub fn update(seq: u64, since: u64, changes: &Changes) -> String {
    serde_json::to_string(&Update {
        kind: "update",
        seq,
        since,
        changes,
    })
    .unwrap_or_default()
}

/// Numbers for tests: three registered from Germany, nobody in yet.
#[cfg(test)]
pub(crate) fn sample_stats() -> EventStats {
    EventStats {
        event: "e".into(),
        registered: ModeTotals {
            offline: 2,
            online: 1,
            total: 3,
        },
        attended: ModeTotals::default(),
        no_shows: ModeTotals::default(),
        cancelled: 0,
        by_category: vec![],
        by_country: vec![CountryStats {
            code: "DE".into(),
            name: "Germany".into(),
            registered: 3,
            attended_offline: 0,
            attended_online: 0,
        }],
        by_session: vec![],
        arrivals_per_minute: vec![],
        recent: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_carries_only_what_changed() {
        let old = sample_stats();
        let mut new = sample_stats();
        new.attended = ModeTotals {
            offline: 1,
            online: 0,
            total: 1,
        };
        new.by_country[0].attended_offline = 1;
        let Diff::Changes(changes) = diff(&old, &new) else {
            panic!("expected changes")
        };
        assert_eq!(changes.registered, None);
        assert_eq!(changes.attended.as_ref().unwrap().offline, 1);
        assert_eq!(changes.by_country.len(), 1);
        let json = update(7, 6, &changes);
        assert!(
            json.starts_with(r#"{"type":"update","seq":7,"since":6,"attended""#),
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(value.get("registered").is_none() && value.get("recent").is_none());
    }

    #[test]
    fn equal_numbers_send_nothing_and_lost_keys_reset() {
        assert!(matches!(diff(&sample_stats(), &sample_stats()), Diff::Same));
        let mut new = sample_stats();
        new.by_country.clear();
        assert!(matches!(diff(&sample_stats(), &new), Diff::Reset));
    }

    fn minute(m: i64, count: i64) -> MinuteCount {
        MinuteCount {
            minute: format!("2026-11-24T06:{m:02}:00.000Z"),
            count,
        }
    }

    fn checkin(name: &str) -> RecentCheckin {
        RecentCheckin {
            name: name.into(),
            country: "DE".into(),
            session: None,
            session_title: None,
            door: None,
            mode: "offline".into(),
            at: "2026-11-24T06:41:12.345Z".into(),
        }
    }

    fn changes(old: &EventStats, new: &EventStats) -> Box<Changes> {
        match diff(old, new) {
            Diff::Changes(changes) => changes,
            _ => panic!("expected changes"),
        }
    }

    #[test]
    fn an_update_carries_the_minutes_that_changed_not_the_hour() {
        let mut old = sample_stats();
        old.arrivals_per_minute = (0..60).map(|m| minute(m, 1)).collect();
        let mut new = sample_stats();
        new.arrivals_per_minute = (1..60).map(|m| minute(m, 1)).collect();
        new.arrivals_per_minute[58].count = 5;
        new.arrivals_per_minute.push(minute(60, 0));
        let changes = changes(&old, &new);
        assert_eq!(
            changes.arrivals_per_minute,
            vec![minute(59, 5), minute(60, 0)]
        );
    }

    #[test]
    fn new_check_ins_are_added_in_front_and_an_undo_sends_the_list() {
        let names = |names: &[&str]| names.iter().map(|n| checkin(n)).collect::<Vec<_>>();
        let (mut old, mut new) = (sample_stats(), sample_stats());
        old.recent = names(&["b", "a"]);
        new.recent = names(&["d", "c", "b", "a"]);
        let added = changes(&old, &new);
        assert_eq!(added.recent_added, names(&["d", "c"]));
        assert_eq!(added.recent, None);

        // A full list: the oldest falls off the end.
        let full: Vec<String> = (0..RECENT_CHECKINS).map(|i| format!("p{i}")).collect();
        old.recent = full.iter().map(|n| checkin(n)).collect();
        new.recent = std::iter::once(checkin("new"))
            .chain(old.recent[..old.recent.len() - 1].iter().cloned())
            .collect();
        let added = changes(&old, &new);
        assert_eq!(added.recent_added, names(&["new"]));
        assert_eq!(added.recent, None);

        // An undo took "b" away: the whole list.
        old.recent = names(&["c", "b", "a"]);
        new.recent = names(&["c", "a"]);
        let replaced = changes(&old, &new);
        assert!(replaced.recent_added.is_empty());
        assert_eq!(replaced.recent, Some(names(&["c", "a"])));
        assert!(replaced.touches_recent());
    }

    #[test]
    fn a_snapshot_is_typed_and_numbered() {
        let json = snapshot(3, &sample_stats());
        assert!(
            json.starts_with(r#"{"type":"snapshot","seq":3,"event":"e""#),
            "{json}"
        );
    }
}
