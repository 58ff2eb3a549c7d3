//! A participant list from a spreadsheet (CSV). Every row is parsed and
//! checked before anything is stored, and every problem is reported with its
//! line number, so an import is all or nothing and one upload shows all the
//! fixes needed.

use super::registration::choose_sessions;
use super::{
    AttendanceMode, Category, Country, FieldErrors, NewRegistration, PersonDetails, PersonFields,
    SessionChoice,
};
use std::collections::HashMap;

/// The columns, in the order the README documents them. Any order is read.
pub const COLUMNS: [&str; 7] = [
    "name",
    "email",
    "affiliation",
    "country",
    "mode",
    "category",
    "sessions",
];

/// More rows than this is a mistake (or a different tool's job).
pub const MAX_ROWS: usize = 100_000;

/// Past this many problems the list stops growing; the count goes on.
const MAX_LISTED_PROBLEMS: usize = 500;

/// One checked row, with the line it came from for later problems (an email
/// taken since, a full session).
#[derive(Clone, Debug)]
pub struct ImportRow {
    pub line: u64,
    pub registration: NewRegistration,
}

/// Something wrong with the file: on a line, or (`line: None`) with the file
/// as a whole.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImportProblem {
    pub line: Option<u64>,
    pub message: String,
}

impl ImportProblem {
    pub fn at(line: u64, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }
    pub fn whole_file(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Problems found, capped for display, with the true total.
#[derive(Debug, Default)]
pub struct ImportProblems {
    pub listed: Vec<ImportProblem>,
    pub total: usize,
}

impl ImportProblems {
    pub fn push(&mut self, problem: ImportProblem) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    pub fn unlisted(&self) -> usize {
        self.total - self.listed.len()
    }
}

impl From<ImportProblem> for ImportProblems {
    fn from(problem: ImportProblem) -> Self {
        let mut problems = Self::default();
        problems.push(problem);
        problems
    }
}

/// Where each column sits in the file.
struct ColumnIndex([usize; 7]);

impl ColumnIndex {
    fn from_header(header: &csv::ByteRecord) -> Result<Self, ImportProblem> {
        let names: Vec<String> = header
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_lowercase())
            .collect();
        if let Some(unknown) = names.iter().find(|n| !COLUMNS.contains(&n.as_str())) {
            return Err(ImportProblem::at(
                1,
                format!(
                    "unknown column “{unknown}”: the header must be {}",
                    COLUMNS.join(",")
                ),
            ));
        }
        let mut index = [0; 7];
        for (slot, column) in index.iter_mut().zip(COLUMNS) {
            let mut found = names.iter().enumerate().filter(|(_, n)| *n == column);
            *slot = match (found.next(), found.next()) {
                (Some((i, _)), None) => i,
                (None, _) => {
                    return Err(ImportProblem::at(
                        1,
                        format!(
                            "the column “{column}” is missing: the header must be {}",
                            COLUMNS.join(",")
                        ),
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(ImportProblem::at(
                        1,
                        format!("the column “{column}” appears twice"),
                    ))
                }
            };
        }
        Ok(Self(index))
    }
}

/// Reads and checks a whole file against the event's programme. Emails
/// already registered and seats left are the database's to check.
pub fn parse_participants(
    data: &[u8],
    offered: &[SessionChoice],
) -> Result<Vec<ImportRow>, ImportProblems> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(data);
    let columns = match reader.byte_headers() {
        Ok(header) if header.iter().all(<[u8]>::is_empty) => {
            return Err(ImportProblem::whole_file(format!(
                "the file is empty: the first line must be the header {}",
                COLUMNS.join(",")
            ))
            .into())
        }
        Ok(header) => ColumnIndex::from_header(header).map_err(ImportProblems::from)?,
        Err(e) => return Err(ImportProblem::at(1, unreadable(&e)).into()),
    };

    let mut rows = Vec::new();
    let mut problems = ImportProblems::default();
    let mut first_line_of_email: HashMap<String, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    let mut seen = 0usize;
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problems.push(ImportProblem::at(line, unreadable(&e)));
                continue;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record
            .iter()
            .all(|field| field.iter().all(u8::is_ascii_whitespace))
        {
            continue; // the blank rows spreadsheets leave at the end
        }
        seen += 1;
        if seen > MAX_ROWS {
            problems.push(ImportProblem::whole_file(format!(
                "the file has more than {MAX_ROWS} participants: split it"
            )));
            break;
        }
        if record.len() != COLUMNS.len() {
            problems.push(ImportProblem::at(
                line,
                format!(
                    "{} values where the header has {} columns",
                    record.len(),
                    COLUMNS.len()
                ),
            ));
            continue;
        }
        match parse_row(&record, &columns, offered) {
            Ok(registration) => {
                let email = registration.person.email.as_str().to_string();
                if let Some(first) = first_line_of_email.get(&email) {
                    problems.push(ImportProblem::at(
                        line,
                        format!("{email} is also on line {first}: one row per person"),
                    ));
                } else {
                    first_line_of_email.insert(email, line);
                    rows.push(ImportRow { line, registration });
                }
            }
            Err(messages) => {
                for message in messages {
                    problems.push(ImportProblem::at(line, message));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if rows.is_empty() {
        return Err(ImportProblem::whole_file("the file has a header but no participants").into());
    }
    Ok(rows)
}

fn unreadable(error: &csv::Error) -> String {
    format!("this line can't be read as CSV ({error})")
}

/// One row into a registration, or a message per wrong column.
fn parse_row(
    record: &csv::ByteRecord,
    columns: &ColumnIndex,
    offered: &[SessionChoice],
) -> Result<NewRegistration, Vec<String>> {
    let mut values = [""; 7];
    let mut messages = Vec::new();
    for (value, (&at, column)) in values.iter_mut().zip(columns.0.iter().zip(COLUMNS)) {
        match std::str::from_utf8(&record[at]) {
            Ok(text) => *value = text,
            Err(_) => messages.push(format!(
                "{column}: not UTF-8 text (save the file as “CSV UTF-8”)"
            )),
        }
    }
    if !messages.is_empty() {
        return Err(messages);
    }
    let [name, email, affiliation, country, mode, category, sessions] = values;

    // Spreadsheet spellings become the form's values, so the checks and
    // their messages are the registration form's own.
    let mut errors = FieldErrors::default();
    let country = Country::parse_code_or_name(country);
    let mode = AttendanceMode::parse_lenient(mode);
    let category = if category.trim().is_empty() {
        Ok(Category::Delegate)
    } else {
        Category::parse_lenient(category)
    };
    for (field, problem) in [
        ("country", country.as_ref().err()),
        ("mode", mode.as_ref().err()),
        ("category", category.as_ref().err()),
    ] {
        if let Some(message) = problem {
            errors.add(field, message.clone());
        }
    }
    let person = PersonDetails::parse(
        &PersonFields {
            full_name: name,
            email,
            affiliation,
            country: country.as_ref().map_or("", |c| c.code()),
            mode: mode.as_ref().map_or("", |m| m.as_str()),
            category: category.as_ref().map_or("", |c| c.as_str()),
        },
        &mut errors,
    );
    let slugs: Vec<String> = sessions
        .split(';')
        .map(str::trim)
        .filter(|slug| !slug.is_empty())
        .map(str::to_string)
        .collect();
    let seats = choose_sessions(&slugs, offered, mode.ok(), category.ok())
        .map_err(|message| errors.add("sessions", message))
        .ok();
    match (person, seats) {
        (Some(person), Some(sessions)) if errors.is_empty() => {
            Ok(NewRegistration { person, sessions })
        }
        _ => {
            let mut messages: Vec<(usize, String)> = errors
                .iter()
                .map(|(field, message)| {
                    let column = if field == "full_name" { "name" } else { field };
                    let position = COLUMNS.iter().position(|c| *c == column);
                    (
                        position.unwrap_or(COLUMNS.len()),
                        format!("{column}: {message}"),
                    )
                })
                .collect();
            messages.sort();
            Err(messages.into_iter().map(|(_, message)| message).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionFormat;

    fn offered() -> Vec<SessionChoice> {
        vec![
            SessionChoice {
                id: 1,
                slug: "agm".into(),
                title: "Annual meeting".into(),
                format: SessionFormat::Hybrid,
                members_only: true,
            },
            SessionChoice {
                id: 2,
                slug: "keynote".into(),
                title: "Keynote".into(),
                format: SessionFormat::Hybrid,
                members_only: false,
            },
            SessionChoice {
                id: 3,
                slug: "lab-tour".into(),
                title: "Lab tour".into(),
                format: SessionFormat::InPerson,
                members_only: false,
            },
        ]
    }

    const HEADER: &str = "name,email,affiliation,country,mode,category,sessions\n";

    fn lines_of(problems: &ImportProblems) -> Vec<Option<u64>> {
        problems.listed.iter().map(|p| p.line).collect()
    }

    #[test]
    fn a_good_file_becomes_registrations_with_their_lines() {
        let file = format!(
            "\u{feff}{HEADER}Ada Lovelace,ADA@example.org,Analytical Society,GB,offline,,keynote;lab-tour\n\
             \"Müller, Jörg\",jm@example.de,TU Wien,Austria,Online,Member representative,agm; keynote\n\
             ,,,,,,\n"
        );
        let rows = parse_participants(file.as_bytes(), &offered()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        let ada = &rows[0].registration;
        assert_eq!(ada.person.email.as_str(), "ada@example.org");
        assert_eq!(ada.person.category, Category::Delegate);
        assert_eq!(
            ada.sessions,
            vec![(2, AttendanceMode::Offline), (3, AttendanceMode::Offline)]
        );
        let jorg = &rows[1].registration;
        assert_eq!(rows[1].line, 3);
        assert_eq!(jorg.person.full_name.as_str(), "Müller, Jörg");
        assert_eq!(jorg.person.country.code(), "AT");
        assert_eq!(
            jorg.sessions,
            vec![(1, AttendanceMode::Online), (2, AttendanceMode::Online)]
        );
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let file = "Email,Name,Country,Mode,Category,Sessions,Affiliation\n\
                    li@example.cn,Li Wei,CN,online,,,IHEP\n";
        let rows = parse_participants(file.as_bytes(), &offered()).unwrap();
        assert_eq!(rows[0].registration.person.full_name.as_str(), "Li Wei");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let file = format!(
            "{HEADER}Ada,ada@example.org,Society,GB,offline,,keynote\n\
             ,no-at-sign,Society,Atlantis,hybrid,vip,nope\n\
             Bob,bob@example.org,Society,DE,online,,lab-tour\n\
             Carl,ADA@example.org,Society,FR,offline,,\n\
             Dora,dora@example.org,Society,FR,offline,,agm\n\
             Eve,eve@example.org,too,few\n"
        );
        let problems = parse_participants(file.as_bytes(), &offered()).unwrap_err();
        let text: Vec<String> = problems.listed.iter().map(ToString::to_string).collect();
        let on = |line: u64, needle: &str| {
            assert!(
                text.iter()
                    .any(|t| t.starts_with(&format!("line {line}:")) && t.contains(needle)),
                "no problem on line {line} mentioning {needle:?} in {text:#?}"
            )
        };
        on(3, "name:");
        on(3, "email:");
        on(3, "Atlantis");
        on(3, "mode:");
        on(3, "category:");
        on(4, "in person only");
        on(5, "also on line 2");
        on(6, "member representatives");
        on(7, "4 values");
        assert!(!lines_of(&problems).contains(&Some(2)));
    }

    #[test]
    fn unknown_sessions_are_named() {
        let file = format!("{HEADER}Ada,ada@example.org,Society,GB,offline,,plenary\n");
        let problems = parse_participants(file.as_bytes(), &offered()).unwrap_err();
        assert!(problems.listed[0].message.contains("plenary"));
    }

    #[test]
    fn a_wrong_header_is_one_clear_problem() {
        for (file, needle) in [
            (
                "name,email,country\nA,a@example.org,DE\n",
                "“affiliation” is missing",
            ),
            (
                "name,email,affiliation,country,mode,category,sessions,shoe size\n",
                "unknown column “shoe size”",
            ),
            ("", "empty"),
        ] {
            let problems = parse_participants(file.as_bytes(), &offered()).unwrap_err();
            assert_eq!(problems.total, 1, "{file:?}");
            assert!(
                problems.listed[0].message.contains(needle),
                "{:?}",
                problems.listed[0]
            );
        }
        let problems = parse_participants(HEADER.as_bytes(), &offered()).unwrap_err();
        assert!(problems.listed[0].message.contains("no participants"));
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_not_garbled() {
        let mut file = HEADER.as_bytes().to_vec();
        file.extend_from_slice(b"M\xfcller,m@example.de,Uni,DE,offline,,\n");
        let problems = parse_participants(&file, &offered()).unwrap_err();
        assert!(problems.listed[0]
            .to_string()
            .starts_with("line 2: name: not UTF-8"));
    }

    #[test]
    fn a_file_over_the_row_limit_is_refused_as_a_whole() {
        let mut file = HEADER.to_string();
        for i in 0..=MAX_ROWS {
            file.push_str(&format!("P{i},p{i}@example.org,Uni,DE,offline,,\n"));
        }
        let problems = parse_participants(file.as_bytes(), &offered()).unwrap_err();
        assert_eq!(problems.total, 1);
        assert_eq!(problems.listed[0].line, None);
        assert!(problems.listed[0].message.contains("more than 100000"));
    }

    #[test]
    fn the_problem_list_is_capped_but_counted() {
        let mut file = HEADER.to_string();
        for _ in 0..(MAX_LISTED_PROBLEMS + 20) {
            file.push_str("x,not-an-email,Uni,DE,offline,,\n");
        }
        let problems = parse_participants(file.as_bytes(), &offered()).unwrap_err();
        assert_eq!(problems.listed.len(), MAX_LISTED_PROBLEMS);
        assert_eq!(problems.unlisted(), 20);
    }
}
