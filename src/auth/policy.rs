//! The permission table. Every route names the permission it needs and asks
//! `Caller::may`; nothing else decides access.

use crate::domain::{StaffRole, TokenRole};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Check people in at a door (scan, manual check-in, participant search).
    Scan,
    /// Read live numbers and stats.
    ViewLive,
    /// Reports, exports, the check-in log, undoing a check-in.
    Reports,
    /// Create and edit events, sessions, registrations and device tokens.
    ManageEvent,
    /// Create and change staff accounts.
    ManageStaff,
}

/// Whoever is making the request.
#[derive(Clone, Debug)]
pub enum Caller {
    Staff {
        id: i32,
        username: String,
        role: StaffRole,
        /// The only event this account works for; `None`: all events.
        event_id: Option<i32>,
    },
    Device {
        token_id: i32,
        label: String,
        role: TokenRole,
        event_id: i32,
        /// Sessions the token may scan for; empty: all of its event's.
        session_ids: Vec<i32>,
    },
}

impl Caller {
    /// May this caller do `what` at event `event_id` (`None`: not about one event)?
    pub fn may(&self, what: Permission, event_id: Option<i32>) -> bool {
        use Permission::*;
        match self {
            Caller::Staff {
                role,
                event_id: only,
                ..
            } => {
                let in_scope = match (only, event_id) {
                    (None, _) => true,
                    (Some(only), Some(event)) => *only == event,
                    (Some(_), None) => false,
                };
                let allowed = match role {
                    StaffRole::Admin => true,
                    StaffRole::Organiser => what != ManageStaff,
                    StaffRole::Door => what == Scan,
                };
                allowed && in_scope
            }
            Caller::Device {
                role,
                event_id: own,
                ..
            } => {
                let allowed = match role {
                    TokenRole::Door => what == Scan,
                    TokenRole::Dashboard => what == ViewLive,
                    TokenRole::Organiser => matches!(what, Scan | ViewLive | Reports),
                };
                allowed && event_id == Some(*own)
            }
        }
    }

    /// May this caller scan for `session_id` (`None`: event entry)? Assumes
    /// `may(Scan, …)` already holds.
    pub fn may_scan_session(&self, session_id: Option<i32>) -> bool {
        match self {
            Caller::Staff { .. } => true,
            Caller::Device { session_ids, .. } => {
                session_ids.is_empty() || session_id.is_some_and(|id| session_ids.contains(&id))
            }
        }
    }

    /// The name the check-in log records.
    pub fn actor(&self) -> String {
        match self {
            Caller::Staff { username, .. } => format!("user:{username}"),
            Caller::Device {
                label, token_id, ..
            } => format!("device:{token_id}:{label}"),
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Caller::Staff { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn staff(role: StaffRole, event_id: Option<i32>) -> Caller {
        Caller::Staff {
            id: 1,
            username: "u".into(),
            role,
            event_id,
        }
    }
    fn device(role: TokenRole, sessions: Vec<i32>) -> Caller {
        Caller::Device {
            token_id: 1,
            label: "d".into(),
            role,
            event_id: 7,
            session_ids: sessions,
        }
    }

    #[test]
    fn staff_roles_grant_what_their_names_say() {
        let all = [Scan, ViewLive, Reports, ManageEvent, ManageStaff];
        assert!(all
            .iter()
            .all(|p| staff(StaffRole::Admin, None).may(*p, Some(7))));
        let organiser = staff(StaffRole::Organiser, None);
        assert!([Scan, ViewLive, Reports, ManageEvent]
            .iter()
            .all(|p| organiser.may(*p, Some(7))));
        assert!(!organiser.may(ManageStaff, None));
        let door = staff(StaffRole::Door, None);
        assert!(door.may(Scan, Some(7)));
        assert!(![ViewLive, Reports, ManageEvent, ManageStaff]
            .iter()
            .any(|p| door.may(*p, Some(7))));
    }

    #[test]
    fn an_account_limited_to_an_event_works_only_there() {
        let door = staff(StaffRole::Door, Some(7));
        assert!(door.may(Scan, Some(7)));
        assert!(!door.may(Scan, Some(8)));
    }

    #[test]
    fn tokens_are_bound_to_their_event_role_and_sessions() {
        let door = device(TokenRole::Door, vec![3]);
        assert!(door.may(Scan, Some(7)));
        assert!(!door.may(Scan, Some(8)));
        assert!(!door.may(ViewLive, Some(7)));
        assert!(door.may_scan_session(Some(3)));
        assert!(!door.may_scan_session(Some(4)));
        assert!(!door.may_scan_session(None));
        assert!(device(TokenRole::Door, vec![]).may_scan_session(None));
        let screen = device(TokenRole::Dashboard, vec![]);
        assert!(screen.may(ViewLive, Some(7)) && !screen.may(Scan, Some(7)));
        let api = device(TokenRole::Organiser, vec![]);
        assert!(api.may(Reports, Some(7)) && !api.may(ManageEvent, Some(7)));
    }
}
