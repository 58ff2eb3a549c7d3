//! Small closed sets stored as text in the database (checked there too).

/// Lower case, trimmed, with runs of spaces, hyphens and underscores as one `_`.
fn loosen(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .split([' ', '-', '_'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Declares an enum whose variants are stored as fixed strings, with the
/// human label shown on pages.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $value:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim() {
                    $($value => Ok($name::$variant),)+
                    "" => Err(format!("Please choose {}.", $what)),
                    _ => Err(format!("Please choose one of the listed options for {}.", $what)),
                }
            }

            /// Like `parse`, but also takes the label, in any case, with
            /// spaces or hyphens for underscores: what people type in a
            /// spreadsheet ("In person", "Member representative").
            pub fn parse_lenient(raw: &str) -> Result<Self, String> {
                let wanted = loosen(raw);
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| loosen(v.as_str()) == wanted || loosen(v.label()) == wanted)
                    .ok_or_else(|| {
                        let options: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        if wanted.is_empty() {
                            format!("Please choose {}.", $what)
                        } else {
                            format!("Use one of {} for {}.", options.join(", "), $what)
                        }
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

text_enum!(
    /// How a participant attends: in the room or over the stream.
    AttendanceMode, "how you will attend" {
        Offline => "offline", "In person";
        Online => "online", "Online";
    }
);

text_enum!(
    /// What a participant is at the event; some sessions are for members only.
    Category, "a category" {
        Delegate => "delegate", "Delegate";
        MemberRepresentative => "member_representative", "Member representative";
        Speaker => "speaker", "Speaker";
        Guest => "guest", "Guest";
        Press => "press", "Press";
    }
);

text_enum!(
    ParticipantStatus, "a status" {
        Registered => "registered", "Registered";
        Cancelled => "cancelled", "Cancelled";
    }
);

text_enum!(
    /// Whether a session happens in the room, on a stream, or both.
    SessionFormat, "a session format" {
        InPerson => "in_person", "In person";
        Online => "online", "Online";
        Hybrid => "hybrid", "Hybrid";
    }
);

text_enum!(
    /// How an attendance record came about.
    AttendanceSource, "a source" {
        DoorScan => "door_scan", "Door scan";
        JoinLink => "join_link", "Join link";
        Manual => "manual", "Manual check-in";
        Import => "import", "Import";
    }
);

text_enum!(
    /// What a staff account may do: admin everything (and manages staff),
    /// organiser runs events, door only scans.
    StaffRole, "a role" {
        Admin => "admin", "Admin";
        Organiser => "organiser", "Organiser";
        Door => "door", "Door staff";
    }
);

text_enum!(
    /// What a device token may do: scan at a door, read live data and
    /// stats (a hall screen), or everything an organiser's API client needs.
    TokenRole, "a token role" {
        Door => "door", "Door scanner";
        Dashboard => "dashboard", "Dashboard / hall screen";
        Organiser => "organiser", "Organiser API";
    }
);

impl SessionFormat {
    /// Which seat a participant of `mode` takes in a session of this format,
    /// or `None` when they can't attend it (an online participant can't take
    /// a seat in a room-only session). Everyone may follow an online session.
    pub fn seat_for(self, mode: AttendanceMode) -> Option<AttendanceMode> {
        match (self, mode) {
            (SessionFormat::InPerson, AttendanceMode::Online) => None,
            (SessionFormat::InPerson, AttendanceMode::Offline) => Some(AttendanceMode::Offline),
            (SessionFormat::Online, _) => Some(AttendanceMode::Online),
            (SessionFormat::Hybrid, mode) => Some(mode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_stored_names() {
        for mode in AttendanceMode::ALL {
            assert_eq!(AttendanceMode::parse(mode.as_str()), Ok(*mode));
        }
        assert_eq!(
            AttendanceMode::parse(" online "),
            Ok(AttendanceMode::Online)
        );
        assert!(AttendanceMode::parse("Offline").is_err());
        assert!(AttendanceMode::parse("").is_err());
        assert!(AttendanceMode::parse("hybrid").is_err());
    }

    #[test]
    fn lenient_parsing_takes_labels_as_people_type_them() {
        assert_eq!(
            AttendanceMode::parse_lenient("In-Person"),
            Ok(AttendanceMode::Offline)
        );
        assert_eq!(
            AttendanceMode::parse_lenient(" OFFLINE "),
            Ok(AttendanceMode::Offline)
        );
        assert_eq!(
            Category::parse_lenient("Member  representative"),
            Ok(Category::MemberRepresentative)
        );
        let refused = AttendanceMode::parse_lenient("hybrid").unwrap_err();
        assert!(refused.contains("offline, online"), "{refused}");
        assert!(Category::parse_lenient("  ").is_err());
    }

    #[test]
    fn categories_parse_only_known_values() {
        assert_eq!(
            Category::parse("member_representative"),
            Ok(Category::MemberRepresentative)
        );
        assert!(Category::parse("vip").is_err());
    }

    #[test]
    fn seats_follow_the_session_format() {
        use AttendanceMode::*;
        assert_eq!(SessionFormat::InPerson.seat_for(Online), None);
        assert_eq!(SessionFormat::Online.seat_for(Offline), Some(Online));
        assert_eq!(SessionFormat::Hybrid.seat_for(Offline), Some(Offline));
        assert_eq!(SessionFormat::Hybrid.seat_for(Online), Some(Online));
    }
}
