//! What a door scan answers. The JSON shape is the check-in API's contract.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinStatus {
    /// Counted now.
    Accepted,
    /// Already counted for this session; nothing new is counted.
    Duplicate,
    /// Not let in, for `reason`.
    Rejected,
}

impl CheckinStatus {
    /// The word the API, the check-in log and the metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinStatus::Accepted => "accepted",
            CheckinStatus::Duplicate => "duplicate",
            CheckinStatus::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    UnknownCode,
    Cancelled,
    NotRegisteredForSession,
    MembersOnly,
    SessionNotOpen,
    SessionFull,
    WrongEvent,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownCode => "unknown_code",
            RejectReason::Cancelled => "cancelled",
            RejectReason::NotRegisteredForSession => "not_registered_for_session",
            RejectReason::MembersOnly => "members_only",
            RejectReason::SessionNotOpen => "session_not_open",
            RejectReason::SessionFull => "session_full",
            RejectReason::WrongEvent => "wrong_event",
        }
    }
}

/// Who was scanned, as the door needs to see them: no email, no code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantCard {
    pub id: i32,
    pub name: String,
    pub affiliation: String,
    pub country: String,
    pub country_name: String,
    pub mode: String,
    pub category: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinAnswer {
    pub status: CheckinStatus,
    pub reason: Option<RejectReason>,
    /// Accepted, but something the door should know (an online registrant
    /// who came in person).
    pub warning: Option<String>,
    pub participant: Option<ParticipantCard>,
    /// The session slug; `null` for entry to the event itself.
    pub session: Option<String>,
    pub door: Option<String>,
    /// When this scan was counted (accepted) or first counted (duplicate),
    /// RFC 3339 UTC, and the same as "HH:MM" in the event's time zone.
    pub checked_in_at: Option<String>,
    pub first_checked_in_at: Option<String>,
    pub first_checked_in_local: Option<String>,
    pub first_door: Option<String>,
    pub scan_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::{CheckinStatus, RejectReason};

    /// The log stores `as_str`'s words and reads them back through serde
    /// (`db::checkins::stored_answers`): the two must agree.
    #[test]
    fn the_logged_words_are_the_api_words() {
        for status in [
            CheckinStatus::Accepted,
            CheckinStatus::Duplicate,
            CheckinStatus::Rejected,
        ] {
            let word = serde_json::to_string(&status).unwrap();
            assert_eq!(word, format!("\"{}\"", status.as_str()));
        }
        for reason in [
            RejectReason::UnknownCode,
            RejectReason::Cancelled,
            RejectReason::NotRegisteredForSession,
            RejectReason::MembersOnly,
            RejectReason::SessionNotOpen,
            RejectReason::SessionFull,
            RejectReason::WrongEvent,
        ] {
            let word = serde_json::to_string(&reason).unwrap();
            assert_eq!(word, format!("\"{}\"", reason.as_str()));
        }
    }
}
