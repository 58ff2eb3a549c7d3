//! The messages dashboards receive (see docs/live-protocol.md): a snapshot
//! of everything, then updates with only what changed, numbered by `seq`.

use crate::db::stats::{
    CategoryStats, CountryStats, EventStats, MinuteCount, ModeTotals, RecentCheckin, SessionStats,
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
    /// The whole list, when any category changed (a short fixed list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_category: Option<Vec<CategoryStats>>,
    /// Changed or new countries (by `code`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_country: Vec<CountryStats>,
    /// Changed sessions (by `slug`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_session: Vec<SessionStats>,
    /// The whole hour, when any minute changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrivals_per_minute: Option<Vec<MinuteCount>>,
    /// The whole list of recent check-ins, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent: Option<Vec<RecentCheckin>>,
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
    Diff::Changes(Box::new(Changes {
        registered: changed(&old.registered, &new.registered),
        attended: changed(&old.attended, &new.attended),
        no_shows: changed(&old.no_shows, &new.no_shows),
        cancelled: (old.cancelled != new.cancelled).then_some(new.cancelled),
        by_category: (old.by_category != new.by_category).then(|| new.by_category.clone()),
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
        arrivals_per_minute: (old.arrivals_per_minute != new.arrivals_per_minute)
            .then(|| new.arrivals_per_minute.clone()),
        recent: (old.recent != new.recent).then(|| new.recent.clone()),
    }))
}

#[derive(Serialize)]
struct Update<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    #[serde(flatten)]
    changes: &'a Changes,
}

pub fn update(seq: u64, changes: &Changes) -> String {
    serde_json::to_string(&Update {
        kind: "update",
        seq,
        changes,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> EventStats {
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

    #[test]
    fn an_update_carries_only_what_changed() {
        let old = stats();
        let mut new = stats();
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
        let json = update(7, &changes);
        assert!(
            json.starts_with(r#"{"type":"update","seq":7,"attended""#),
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(value.get("registered").is_none() && value.get("recent").is_none());
    }

    #[test]
    fn equal_numbers_send_nothing_and_lost_keys_reset() {
        assert!(matches!(diff(&stats(), &stats()), Diff::Same));
        let mut new = stats();
        new.by_country.clear();
        assert!(matches!(diff(&stats(), &new), Diff::Reset));
    }

    #[test]
    fn a_snapshot_is_typed_and_numbered() {
        let json = snapshot(3, &stats());
        assert!(
            json.starts_with(r#"{"type":"snapshot","seq":3,"event":"e""#),
            "{json}"
        );
    }
}
