//! The demo forum: the shape of the ZGC Forum 2021 in Huairou, Beijing, with
//! invented participants, scheduled around the moment it is loaded so that
//! scanning and joining work at once. Loading it twice changes nothing.

use crate::db::attendance::{self, NewAttendance};
use crate::db::events::{self, NewAgendaSession, NewEvent};
use crate::db::participants::{self, RegisterOutcome};
use crate::db::{now_ms, DbConnection, DbError};
use crate::domain::{
    Affiliation, AttendanceMode, AttendanceSource, Category, Country, Email, NewRegistration,
    PersonDetails, PersonName,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const SLUG: &str = "zgc-forum-2021";

const MINUTE: i64 = 60_000;

const FAMILY_CN: &[&str] = &[
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma",
    "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo",
];
const GIVEN_CN: &[&str] = &[
    "Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Hui", "Xiaoming", "Li", "Qiang", "Ying",
    "Hao", "Ning", "Tao", "Xin", "Yuxuan", "Zihan", "Haoran", "Shu",
];
const AFFILIATIONS_CN: &[&str] = &[
    "Chinese Academy of Sciences, Institute of Physics",
    "University of Chinese Academy of Sciences",
    "Tsinghua University",
    "Peking University",
    "Beijing Institute of Technology",
    "Huairou Science City Administration",
    "Zhongguancun Science Park",
    "Institute of Geographic Sciences and Natural Resources Research, CAS",
    "Beijing Academy of Artificial Intelligence",
    "Institute of High Energy Physics, CAS",
];

/// (country, given names, family names, affiliations) of the online side.
type NamePool = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);
const ONLINE_COUNTRIES: &[NamePool] = &[
    (
        "DE",
        &["Anna", "Lukas", "Miriam", "Jonas", "Katrin"],
        &["Schmidt", "Becker", "Hoffmann", "Wagner", "Keller"],
        &["Max Planck Society", "Helmholtz Association", "TU München"],
    ),
    (
        "GB",
        &["Oliver", "Emma", "Harriet", "James", "Priya"],
        &["Smith", "Taylor", "Patel", "Hughes", "Clarke"],
        &[
            "University of Cambridge",
            "Imperial College London",
            "Royal Society",
        ],
    ),
    (
        "CH",
        &["Luca", "Sophie", "Noah", "Lea", "Matteo"],
        &["Meier", "Baumann", "Rossi", "Fischer", "Gerber"],
        &["ETH Zürich", "EPFL", "Swiss National Science Foundation"],
    ),
    (
        "ES",
        &["Lucía", "Pablo", "Carmen", "Javier", "Elena"],
        &["García", "Martínez", "López", "Sánchez", "Romero"],
        &[
            "CSIC",
            "Universidad Politécnica de Madrid",
            "Barcelona Supercomputing Center",
        ],
    ),
    (
        "PL",
        &["Zofia", "Jakub", "Maja", "Piotr", "Agnieszka"],
        &["Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Kamińska"],
        &[
            "Polish Academy of Sciences",
            "University of Warsaw",
            "Jagiellonian University",
        ],
    ),
    (
        "NL",
        &["Daan", "Sanne", "Lotte", "Bram", "Femke"],
        &["de Vries", "Jansen", "van Dijk", "Bakker", "Visser"],
        &["TU Delft", "Leiden University", "NWO"],
    ),
    (
        "SE",
        &["Elsa", "Erik", "Astrid", "Oskar", "Ingrid"],
        &["Andersson", "Johansson", "Lindqvist", "Karlsson", "Nilsson"],
        &[
            "Karolinska Institutet",
            "KTH Royal Institute of Technology",
            "Lund University",
        ],
    ),
];

/// What a load did, printed by the CLI.
pub struct DemoReport {
    pub created: bool,
    pub participants: usize,
    pub in_person: usize,
    pub online: usize,
    pub attendance: usize,
}

impl std::fmt::Display for DemoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.created {
            write!(
                f,
                "Loaded the demo event {SLUG}: {} participants ({} in person, {} online), {} attendance records.",
                self.participants, self.in_person, self.online, self.attendance
            )
        } else {
            write!(
                f,
                "The demo event {SLUG} is already loaded; nothing changed."
            )
        }
    }
}

struct Person {
    name: String,
    affiliation: String,
    country: &'static str,
    mode: AttendanceMode,
    category: Category,
}

pub fn load(conn: &mut DbConnection) -> Result<DemoReport, DbError> {
    if events::find_event(conn, SLUG)?.is_some() {
        return Ok(DemoReport {
            created: false,
            participants: 0,
            in_person: 0,
            online: 0,
            attendance: 0,
        });
    }
    // One transaction: a failed load leaves nothing half-made behind.
    crate::db::write_transaction(conn, |conn| load_new(conn, now_ms()))
}

fn load_new(conn: &mut DbConnection, now: i64) -> Result<DemoReport, DbError> {
    let t = now - now.rem_euclid(5 * MINUTE);
    let event_id = events::insert_event(
        conn,
        &NewEvent {
            slug: SLUG,
            title: "ZGC Forum 2021 · Huairou Science City",
            description: "Demo event with the shape of the ZGC Forum 2021, held 24–28 September 2021 in Huairou, Beijing: \
                          the GCASC Annual Meeting of member units, an opening ceremony with keynote speeches, and two \
                          parallel academic sessions with nine theme reports. Participants are invented; the sessions \
                          are scheduled around the moment the demo was loaded.",
            venue: "Yanqi Lake International Conference Center, Huairou, Beijing",
            timezone: "Asia/Shanghai",
            starts_at: t - 165 * MINUTE,
            ends_at: t + 255 * MINUTE,
            created_at: now,
        },
    )?;
    let stream = Some("https://stream.example.org/zgc-forum-2021");
    let session = |slug,
                   title,
                   description,
                   room,
                   start: i64,
                   minutes: i64,
                   offline: Option<i32>,
                   members_only| NewAgendaSession {
        event_id,
        slug,
        title,
        description,
        room,
        starts_at: start,
        ends_at: start + minutes * MINUTE,
        format: "hybrid",
        capacity_offline: offline,
        capacity_online: None,
        stream_url: stream,
        members_only,
    };
    let agm = events::insert_session(conn, &session(
        "gcasc-annual-meeting", "GCASC Annual Meeting",
        "Annual meeting of the representatives of the member units: report of the secretariat, accounts, work plan for the coming year, admission of new members.",
        "Yanqi Hall 2", t - 165 * MINUTE, 120, Some(20), true,
    ))?;
    let opening = events::insert_session(conn, &session(
        "opening-ceremony", "Opening Ceremony and Keynote Speeches",
        "Welcome addresses by the organisers, followed by keynote speeches on open science and international cooperation in science parks.",
        "Main Auditorium", t - 15 * MINUTE, 120, Some(300), false,
    ))?;
    let track_a = events::insert_session(conn, &session(
        "session-a-frontier-science", "Parallel Session A: Frontier Science and International Cooperation",
        "Theme reports:\n1. Large research infrastructures as shared platforms\n2. Open data across borders\n3. Joint laboratories: lessons from ten years\n4. Early-career mobility programmes\n5. Measuring the impact of cooperation",
        "Room A", t + 135 * MINUTE, 120, Some(60), false,
    ))?;
    let track_b = events::insert_session(conn, &session(
        "session-b-innovation-ecosystems", "Parallel Session B: Science Parks and Innovation Ecosystems",
        "Theme reports:\n1. From laboratory to start-up in Huairou\n2. Technology transfer offices that work\n3. Talent policy in science cities\n4. Green campuses and energy",
        "Room B", t + 135 * MINUTE, 120, Some(45), false,
    ))?;

    let mut rng = StdRng::seed_from_u64(2021);
    let mut people = Vec::new();
    // Twelve representatives of member units: eight in the room, four on video.
    for i in 0..12 {
        let (country, mode) = if i < 8 {
            (
                if i < 6 { "CN" } else { ["DE", "NL"][i - 6] },
                AttendanceMode::Offline,
            )
        } else {
            (["GB", "CH", "SE", "PL"][i - 8], AttendanceMode::Online)
        };
        let member = person(
            &mut rng,
            &people,
            country,
            mode,
            Category::MemberRepresentative,
        );
        people.push(member);
    }
    // About a hundred more in person, nearly all from China.
    for i in 0..92 {
        let country = match i % 23 {
            0 => "DE",
            1 => "GB",
            _ => "CN",
        };
        let category = match i % 10 {
            0 => Category::Speaker,
            1 => Category::Guest,
            2 => Category::Press,
            _ => Category::Delegate,
        };
        let guest = person(
            &mut rng,
            &people,
            country,
            AttendanceMode::Offline,
            category,
        );
        people.push(guest);
    }
    // Online participants from seven European countries.
    for (k, (country, ..)) in ONLINE_COUNTRIES.iter().enumerate() {
        for i in 0..(4 + k % 3) {
            let category = if i == 0 {
                Category::Speaker
            } else {
                Category::Delegate
            };
            let online = person(&mut rng, &people, country, AttendanceMode::Online, category);
            people.push(online);
        }
    }

    let mut report = DemoReport {
        created: true,
        participants: 0,
        in_person: 0,
        online: 0,
        attendance: 0,
    };
    let mut track_b_seats = 45;
    for (n, p) in people.iter().enumerate() {
        let mut sessions = vec![(opening, p.mode)];
        if p.category == Category::MemberRepresentative {
            sessions.push((agm, p.mode));
        }
        let track = if p.mode == AttendanceMode::Offline && track_b_seats > 0 && n % 2 == 1 {
            track_b_seats -= 1;
            track_b
        } else {
            track_a
        };
        sessions.push((track, p.mode));
        let registration = NewRegistration {
            person: PersonDetails {
                full_name: PersonName::parse(&p.name).map_err(invalid)?,
                email: Email::parse(&format!("{}.{n}@example.org", ascii_handle(&p.name)))
                    .map_err(invalid)?,
                affiliation: Affiliation::parse(&p.affiliation).map_err(invalid)?,
                country: Country::parse(p.country).map_err(invalid)?,
                mode: p.mode,
                category: p.category,
            },
            sessions,
        };
        let registered_at = t - rng.random_range(2 * 24 * 60..30 * 24 * 60) * MINUTE;
        let RegisterOutcome::Registered { participant_id, .. } =
            participants::register(conn, event_id, &registration, registered_at)?
        else {
            return Err(invalid(format!("demo participant {n} was refused")));
        };
        report.participants += 1;
        match p.mode {
            AttendanceMode::Offline => report.in_person += 1,
            AttendanceMode::Online => report.online += 1,
        }

        // Who has already arrived: eleven of twelve at the annual meeting, and
        // about seven in ten at the opening ceremony, which is under way.
        let mut attend =
            |session_id: Option<i32>, at: i64, door: Option<&str>| -> Result<(), DbError> {
                let (source, recorded_by) = match (p.mode, door) {
                    (AttendanceMode::Offline, Some(_)) => {
                        (AttendanceSource::DoorScan, Some("demo door"))
                    }
                    (AttendanceMode::Offline, None) => (AttendanceSource::Manual, Some("demo")),
                    (AttendanceMode::Online, _) => (AttendanceSource::JoinLink, None),
                };
                let counted = attendance::record(
                    conn,
                    &NewAttendance {
                        event_id,
                        participant_id,
                        session_id,
                        mode: p.mode,
                        source,
                        door: door.filter(|_| p.mode == AttendanceMode::Offline),
                        recorded_by,
                        recorded_at: at,
                        scan_id: None,
                    },
                )?;
                report.attendance += usize::from(counted);
                Ok(())
            };
        let door = if n % 3 == 0 {
            "South entrance"
        } else {
            "North entrance"
        };
        if p.category == Category::MemberRepresentative && n != 11 {
            attend(
                Some(agm),
                t - 170 * MINUTE + rng.random_range(0..12) * MINUTE,
                Some("Yanqi Hall 2"),
            )?;
        }
        if rng.random_bool(0.7) {
            let arrived =
                t - 45 * MINUTE + rng.random_range(0..40) * MINUTE + rng.random_range(0..60_000);
            if p.mode == AttendanceMode::Offline {
                attend(None, arrived - 2 * MINUTE, Some(door))?;
            }
            attend(Some(opening), arrived, Some(door))?;
        }
    }
    Ok(report)
}

/// An invented person whose name nobody in `people` has yet: drawn at
/// random, two of a hundred Chinese names from 400 pairs would often match,
/// and the lists would show what looks like one person registered twice.
fn person(
    rng: &mut StdRng,
    people: &[Person],
    country: &'static str,
    mode: AttendanceMode,
    category: Category,
) -> Person {
    let pick = |rng: &mut StdRng, list: &[&str]| list[rng.random_range(0..list.len())].to_string();
    let pool = ONLINE_COUNTRIES.iter().find(|(c, ..)| *c == country);
    let draw = |rng: &mut StdRng| match pool {
        Some((_, given, family, _)) => format!("{} {}", pick(rng, given), pick(rng, family)),
        // Chinese names, family name first.
        None => format!("{} {}", pick(rng, FAMILY_CN), pick(rng, GIVEN_CN)),
    };
    let mut name = draw(rng);
    // Bounded: every country's lists give far more names than people.
    for _ in 0..100 {
        if !people.iter().any(|p| p.name == name) {
            break;
        }
        name = draw(rng);
    }
    let affiliation = pick(
        rng,
        pool.map_or(AFFILIATIONS_CN, |(.., affiliations)| affiliations),
    );
    Person {
        name,
        affiliation,
        country,
        mode,
        category,
    }
}

/// "Zofia Wiśniewska" -> "zofia.wisniewska": the local part of an invented
/// address, accented letters spelt without their accents.
fn ascii_handle(name: &str) -> String {
    crate::domain::fold_for_search(name)
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn invalid(message: String) -> DbError {
    DbError::Migration(format!("demo data: {message}"))
}

/// Creates the `admin` account with a fresh random password if there is no
/// such account yet, and returns the password (to print once).
pub fn ensure_admin(conn: &mut DbConnection) -> Result<Option<String>, DbError> {
    if crate::db::staff::find_by_username(conn, "admin")?.is_some() {
        return Ok(None);
    }
    let mut bytes = [0u8; 15];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let password = data_encoding::BASE64URL_NOPAD.encode(&bytes);
    let hash =
        crate::auth::password::hash(&password).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let created = crate::db::staff::create(conn, "admin", &hash, "admin", None, now_ms())?;
    Ok(created.then_some(password))
}
