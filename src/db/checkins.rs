//! Door check-in: one transaction decides the answer to a scan, records the
//! attendance, and writes the scan to the log. The database's unique indexes
//! decide races; Rust never reads-then-writes to count someone.

use super::attendance::{self, NewAttendance};
use super::events::{AgendaSession, Event};
use super::fixed_chunks::{chunk_writer, insert_head, write_in_chunks, ChunkRow};
use super::in_batch::in_batch;
use super::schema::{
    agenda_sessions, attendance as att, checkin_log, participant_sessions, participants,
};
use super::{DbConnection, DbError};
use crate::auth::{Caller, Permission};
use crate::domain::{
    AttendanceMode, AttendanceSource, Category, CheckinAnswer, CheckinCode, CheckinStatus, Country,
    ParticipantCard, RejectReason, TokenRole,
};
use crate::timefmt;
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;
use serde::Deserialize;
// The batch's maps are keyed by codes, scan ids and people: foldhash
// instead of SipHash, which was 5 % of the door writer's instructions
// (4.2 % fewer with it: `writer-cpu` under callgrind, BENCHMARKS.md
// history 53). foldhash seeds each map afresh, so no fixed list of keys
// collides, but it doesn't claim to stop an attacker who studies it;
// here that costs little, as a map holds one batch (`MAX_BATCH` scans).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

/// Who is being checked in: a scanned code, or a person picked by name
/// (manual check-in for a forgotten phone).
#[derive(Clone)]
pub enum Subject {
    /// `None`: what was scanned is not a Rollcall code at all (logged, and
    /// answered like an unknown code).
    Code(Option<CheckinCode>),
    Participant(i32),
}

pub struct CheckinRequest {
    /// Shared by every scan of the batch for this event (one door's
    /// batch names one event): no copy of its strings per scan.
    pub event: Arc<Event>,
    /// `None`: entry to the event itself.
    pub session: Option<Arc<AgendaSession>>,
    pub subject: Subject,
    pub door: Option<String>,
    pub scan_id: Option<String>,
    /// Device label or staff username, for the log.
    pub actor: Arc<str>,
    pub now: i64,
}

/// Who sends a scan, as the request says: checked in the batch that
/// records it, so a revoked token stops at once.
#[derive(Clone, Debug)]
pub enum Who {
    /// A device token's SHA-256 (the token itself never reaches here).
    Device { token_hash: String },
    /// A signed-in staff member (the session cookie was checked already).
    Staff(Caller),
}

/// A scan as it arrives: names, not rows. [`record_scans`] looks them up.
pub struct ScanRequest {
    pub who: Who,
    pub event_slug: String,
    pub session_slug: Option<String>,
    pub subject: Subject,
    pub door: Option<String>,
    pub scan_id: Option<String>,
    pub now: i64,
}

/// Why a scan was not even decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanRefusal {
    /// The token is unknown or revoked.
    Unauthorized,
    NoSuchEvent,
    NoSuchSession(String),
    Forbidden(&'static str),
}

/// A decided scan: the event it counted for, and the answer.
pub type ScanOutcome = Result<(i32, CheckinAnswer), ScanRefusal>;

/// Looks up who sent each scan and where it is for (one query per kind for
/// the whole batch), checks they may scan there, then decides and records
/// those that may (as [`record_batch`] does) in one transaction. The
/// lookups run inside it on SQLite, before it on PostgreSQL
/// ([`super::keyed_write_transaction_after`]).
pub fn record_scans(
    conn: &mut DbConnection,
    scans: &[ScanRequest],
) -> Result<Vec<ScanOutcome>, DbError> {
    super::keyed_write_transaction_after(
        conn,
        |conn| admit(conn, scans),
        |conn, (_, requests)| BatchState::load(conn, requests),
        |conn, (outcomes, requests), batch| {
            let mut answers = decide_batch(conn, requests, batch)?
                .into_iter()
                .zip(requests);
            outcomes
                .iter()
                .map(|outcome| match outcome {
                    Some(refused) => Ok(Err(refused.clone())),
                    None => answers
                        .next()
                        .map(|(answer, req)| Ok(Ok((req.event.id, answer))))
                        .unwrap_or_else(|| Err(DbError::Corrupt("a scan lost its answer".into()))),
                })
                .collect()
        },
    )
}

/// Who sent each scan, and the event and session it names: for each scan
/// in order, its refusal or `None`; and a request for each `None`.
fn admit(
    conn: &mut DbConnection,
    scans: &[ScanRequest],
) -> Result<(Vec<Option<ScanRefusal>>, Vec<CheckinRequest>), DbError> {
    let now = scans.iter().map(|s| s.now).max().unwrap_or_default();
    // A batch from one door names the same token, event and session in
    // every scan: each is looked up once, with a short IN list.
    let hashes = distinct(scans.iter().filter_map(|s| match &s.who {
        Who::Device { token_hash } => Some(token_hash.as_str()),
        Who::Staff(_) => None,
    }));
    let tokens = super::tokens::authenticate_many(conn, &hashes, now)?;
    let slugs = distinct(scans.iter().map(|s| s.event_slug.as_str()));
    let events: Vec<Event> = crate::load_each_of!(
        conn,
        json_texts,
        super::schema::events::table,
        super::schema::events::slug,
        slugs,
        |q| q.select(Event::as_select())
    )?;
    let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
    let session_slugs = distinct(scans.iter().filter_map(|s| s.session_slug.as_deref()));
    let sessions =
        super::events::sessions_named(conn, events.iter().map(|e| e.id).collect(), session_slugs)?;
    let sessions: Vec<Arc<AgendaSession>> = sessions.into_iter().map(Arc::new).collect();
    // A door token's caller, with its name for the log, once per batch.
    let mut devices: HashMap<&str, Option<(Caller, Arc<str>)>> = HashMap::new();

    let mut outcomes: Vec<Option<ScanRefusal>> = Vec::with_capacity(scans.len());
    let mut requests = Vec::new();
    for scan in scans {
        let staff;
        let (caller, actor) = match &scan.who {
            Who::Staff(caller) => {
                staff = (caller.clone(), Arc::from(caller.actor()));
                (&staff.0, &staff.1)
            }
            Who::Device { token_hash } => {
                let device = devices.entry(token_hash).or_insert_with(|| {
                    let (token, session_ids) = tokens.get(token_hash)?;
                    let role = TokenRole::parse(&token.role).ok()?;
                    let caller = Caller::Device {
                        token_id: token.id,
                        label: token.label.clone(),
                        role,
                        event_id: token.event_id,
                        session_ids: session_ids.clone(),
                    };
                    let actor = Arc::from(caller.actor());
                    Some((caller, actor))
                });
                match device {
                    Some((caller, actor)) => (&*caller, &*actor),
                    None => {
                        outcomes.push(Some(ScanRefusal::Unauthorized));
                        continue;
                    }
                }
            }
        };
        let Some(event) = events.iter().find(|e| e.slug == scan.event_slug) else {
            outcomes.push(Some(ScanRefusal::NoSuchEvent));
            continue;
        };
        let session = match &scan.session_slug {
            None => None,
            Some(slug) => match sessions
                .iter()
                .find(|s| s.event_id == event.id && &s.slug == slug)
            {
                Some(session) => Some(session.clone()),
                None => {
                    outcomes.push(Some(ScanRefusal::NoSuchSession(slug.clone())));
                    continue;
                }
            },
        };
        if !caller.may(Permission::Scan, Some(event.id)) {
            outcomes.push(Some(ScanRefusal::Forbidden(
                "this account or token may not check people in at this event",
            )));
            continue;
        }
        if !caller.may_scan_session(session.as_ref().map(|s| s.id)) {
            outcomes.push(Some(ScanRefusal::Forbidden(
                "this token is limited to other sessions",
            )));
            continue;
        }
        outcomes.push(None);
        requests.push(CheckinRequest {
            event: event.clone(),
            session,
            subject: scan.subject.clone(),
            door: scan.door.clone(),
            scan_id: scan.scan_id.clone(),
            actor: actor.clone(),
            now: scan.now,
        });
    }
    Ok((outcomes, requests))
}

/// The names once each, sorted.
fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Decides and records a batch of scans in one transaction, in order, as if
/// each had its own: a later scan of the same person in the batch sees the
/// earlier one. The answers come back in the requests' order. A retry with a
/// `scan_id` already seen for the event gets the stored answer and records
/// nothing.
///
/// The common case takes a handful of statements for the whole batch (the
/// people, their seats and records are read with `IN` lists; new attendance
/// and log rows are multi-row inserts). The rare cases (an online record to
/// turn into an in-person one, a session with a seat limit) take the careful
/// per-scan path, [`decide`], inside the same transaction.
pub fn record_batch(
    conn: &mut DbConnection,
    requests: &[CheckinRequest],
) -> Result<Vec<CheckinAnswer>, DbError> {
    let load = |conn: &mut DbConnection| BatchState::load(conn, requests);
    super::keyed_write_transaction(conn, load, |conn, batch| {
        decide_batch(conn, requests, batch)
    })
}

/// [`record_batch`] inside its transaction, with what the batch read.
fn decide_batch<'r>(
    conn: &mut DbConnection,
    requests: &'r [CheckinRequest],
    mut batch: BatchState<'r>,
) -> Result<Vec<CheckinAnswer>, DbError> {
    let mut answers: Vec<CheckinAnswer> = Vec::with_capacity(requests.len());
    for (index, req) in requests.iter().enumerate() {
        if let Some(given) = batch.replay(req, &answers) {
            answers.push(given);
            continue;
        }
        let (answer, participant_id) = match batch.quick_decision(req) {
            Some((answer, participant_id)) => {
                if answer.status == CheckinStatus::Accepted {
                    batch.pending.push(index);
                }
                (answer, participant_id)
            }
            None => {
                batch.flush(conn, requests, &mut answers)?;
                let decided = decide(conn, req)?;
                if decided.on_record {
                    batch.on_record.insert(index);
                }
                batch.remember(req, &decided.answer, decided.participant_id);
                (decided.answer, decided.participant_id)
            }
        };
        batch.note_answer(req, index);
        batch.log.push((index, participant_id));
        answers.push(answer);
    }
    batch.flush(conn, requests, &mut answers)?;
    let on_record = &batch.on_record;
    batch.log.retain(|(index, _)| !on_record.contains(index));
    write_log(conn, requests, &batch.log, &answers)?;
    Ok(answers)
}

/// A participant as the door sees them: what decides the answer and what
/// the card shows, without the email and the page token (two strings a
/// check-in fewer to read and copy).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = participants)]
struct Entrant {
    id: i32,
    event_id: i32,
    full_name: String,
    affiliation: String,
    country: String,
    mode: String,
    category: String,
    status: String,
    checkin_code: String,
}

impl Entrant {
    fn is_cancelled(&self) -> bool {
        super::participants::is_cancelled(&self.status)
    }
}

/// What a batch knows up front, read with one query per table.
struct BatchState<'r> {
    /// Answers given before this batch, by event and scan id (a retry).
    stored: HashMap<i32, HashMap<String, CheckinAnswer>>,
    /// Answers given earlier in this batch, by event and scan id: indexes
    /// into its answers, so that none is copied unless a retry needs it.
    given: HashMap<(i32, &'r str), usize>,
    /// Participant ids by check-in code, and the participants by id.
    by_code: HashMap<String, i32>,
    by_id: HashMap<i32, Entrant>,
    /// (participant, session) pairs with a seat.
    registered: HashSet<(i32, i32)>,
    /// The record counting a person for a session (`None`: event entry).
    prior: HashMap<(i32, Option<i32>), Prior>,
    /// Accepted in the quick path, not yet inserted: request indexes.
    pending: Vec<usize>,
    /// Log rows to write: request index and the participant.
    log: Vec<(usize, Option<i32>)>,
    /// Requests whose acceptance the inserted record carries (its scan id):
    /// no log row for them.
    on_record: HashSet<usize>,
}

impl<'r> BatchState<'r> {
    /// What `requests` need, read before anything is decided (on
    /// PostgreSQL with plans made for these values).
    fn load(
        conn: &mut DbConnection,
        requests: &[CheckinRequest],
    ) -> Result<BatchState<'static>, DbError> {
        // Answers already given, looked up one event at a time (a batch
        // nearly always has one) so that both columns of the log's
        // (event_id, scan_id) index are equalities.
        let mut stored: HashMap<i32, HashMap<String, CheckinAnswer>> = HashMap::new();
        let mut events: Vec<i32> = requests.iter().map(|r| r.event.id).collect();
        events.sort_unstable();
        events.dedup();
        for event_id in events {
            let scan_ids: Vec<&str> = requests
                .iter()
                .filter(|r| r.event.id == event_id)
                .filter_map(|r| r.scan_id.as_deref())
                .collect();
            if scan_ids.is_empty() {
                continue;
            }
            let found = stored_answers(conn, event_id, scan_ids)?;
            if !found.is_empty() {
                stored.insert(event_id, found);
            }
        }

        let codes: Vec<&str> = requests
            .iter()
            .filter_map(|r| match &r.subject {
                Subject::Code(Some(code)) => Some(code.as_str()),
                _ => None,
            })
            .collect();
        let ids: Vec<i32> = requests
            .iter()
            .filter_map(|r| match r.subject {
                Subject::Participant(id) => Some(id),
                _ => None,
            })
            .collect();
        let mut found: Vec<Entrant> = Vec::new();
        if !codes.is_empty() {
            let by_code: Vec<Entrant> = crate::load_each_of!(
                conn,
                json_texts,
                participants::table,
                participants::checkin_code,
                codes,
                |q| q.select(Entrant::as_select())
            )?;
            found.extend(by_code);
        }
        if !ids.is_empty() {
            let by_id: Vec<Entrant> = crate::load_each_of!(
                conn,
                json_integers,
                participants::table,
                participants::id,
                ids,
                |q| q.select(Entrant::as_select())
            )?;
            found.extend(by_id);
        }
        let people: Vec<i32> = found.iter().map(|p| p.id).collect();
        let mut registered = HashSet::new();
        let mut prior = HashMap::new();
        if !people.is_empty() {
            let seats: Vec<(i32, i32)> = crate::load_each_of!(
                conn,
                json_integers,
                participant_sessions::table,
                participant_sessions::participant_id,
                people.clone(),
                |q| q.select((
                    participant_sessions::participant_id,
                    participant_sessions::session_id,
                ))
            )?;
            registered.extend(seats);
            let records: Vec<(i32, Option<i32>, Prior)> = crate::load_each_of!(
                conn,
                json_integers,
                att::table,
                att::participant_id,
                people,
                |q| q.select((
                    att::participant_id,
                    att::session_id,
                    (
                        att::id,
                        att::mode,
                        att::door,
                        att::recorded_at,
                        att::scan_id
                    ),
                ))
            )?;
            prior.extend(records.into_iter().map(|(p, s, record)| ((p, s), record)));
        }
        let mut by_code = HashMap::new();
        let mut by_id = HashMap::new();
        for p in found {
            by_code.insert(p.checkin_code.clone(), p.id);
            by_id.insert(p.id, p);
        }
        Ok(BatchState {
            stored,
            given: HashMap::new(),
            by_code,
            by_id,
            registered,
            prior,
            pending: Vec::new(),
            log: Vec::new(),
            on_record: HashSet::new(),
        })
    }

    /// The answer a scan id was given already, before or in this batch:
    /// from this batch's answers, the log, or the person's record for the
    /// session when it carries the scan id (a plain acceptance).
    fn replay(&self, req: &CheckinRequest, answers: &[CheckinAnswer]) -> Option<CheckinAnswer> {
        let scan_id = req.scan_id.as_deref()?;
        if let Some(&index) = self.given.get(&(req.event.id, scan_id)) {
            return answers.get(index).cloned();
        }
        if let Some(stored) = self.stored.get(&req.event.id).and_then(|s| s.get(scan_id)) {
            return Some(stored.clone());
        }
        let p = self.subject(req)?;
        let prior = self
            .prior
            .get(&(p.id, req.session.as_ref().map(|s| s.id)))?;
        (p.event_id == req.event.id).then(|| replayed_from_record(req, p, prior))?
    }

    /// The participant a scan names, as the batch read them.
    fn subject(&self, req: &CheckinRequest) -> Option<&Entrant> {
        match &req.subject {
            Subject::Code(None) => None,
            Subject::Code(Some(code)) => self
                .by_code
                .get(code.as_str())
                .and_then(|id| self.by_id.get(id)),
            Subject::Participant(id) => self.by_id.get(id),
        }
    }

    /// `req`'s answer is `answers[index]`: a retry later in the batch gets it.
    fn note_answer(&mut self, req: &'r CheckinRequest, index: usize) {
        if let Some(scan_id) = req.scan_id.as_deref() {
            self.given.insert((req.event.id, scan_id), index);
        }
    }

    /// After the careful path: what it did, for later scans in the batch.
    fn remember(
        &mut self,
        req: &CheckinRequest,
        answer: &CheckinAnswer,
        participant_id: Option<i32>,
    ) {
        if let (CheckinStatus::Accepted, Some(p)) = (answer.status, participant_id) {
            self.count_in_person(p, req);
        }
    }

    /// From now on this batch sees `participant_id` counted in person for
    /// the request's session, at its door and time.
    fn count_in_person(&mut self, participant_id: i32, req: &CheckinRequest) {
        self.prior.insert(
            (participant_id, req.session.as_ref().map(|s| s.id)),
            Prior {
                id: 0,
                mode: AttendanceMode::Offline.as_str().to_string(),
                door: req.door.clone(),
                at: req.now,
                scan_id: None,
            },
        );
    }

    /// The answer from what is already known, or `None` when the scan needs
    /// the careful path.
    fn quick_decision(&mut self, req: &CheckinRequest) -> Option<(CheckinAnswer, Option<i32>)> {
        let mut answer = blank_answer(req);
        let reject = |mut answer: CheckinAnswer, reason, participant_id| {
            answer.reason = Some(reason);
            Some((answer, participant_id))
        };
        let Some(p) = self.subject(req) else {
            return reject(answer, RejectReason::UnknownCode, None);
        };
        if p.event_id != req.event.id {
            return match req.subject {
                // Another event's participant: say so, but show nothing about them.
                Subject::Code(_) => reject(answer, RejectReason::WrongEvent, None),
                Subject::Participant(_) => reject(answer, RejectReason::UnknownCode, None),
            };
        }
        answer.participant = Some(card(p));
        let participant_id = Some(p.id);
        if let Some(refusal) = refusal(req, p, |session_id| {
            self.registered.contains(&(p.id, session_id))
        }) {
            return reject(answer, refusal, participant_id);
        }
        let session_id = req.session.as_ref().map(|s| s.id);
        match self.prior.get(&(p.id, session_id)) {
            Some(prior) if prior.mode == AttendanceMode::Offline.as_str() => {
                let tz = timefmt::zone(&req.event.timezone);
                return Some((duplicate_of(answer, prior.clone(), tz), participant_id));
            }
            Some(_) => return None,
            None => {}
        }
        if req
            .session
            .as_ref()
            .is_some_and(|s| s.capacity_offline.is_some())
        {
            return None;
        }
        accept(&mut answer, req.now);
        if p.mode == AttendanceMode::Online.as_str() {
            answer.warning = Some(CAME_IN_PERSON.to_string());
        }
        let id = p.id;
        self.count_in_person(id, req);
        Some((answer, participant_id))
    }

    /// Inserts the quick path's accepted records. On PostgreSQL a join link
    /// may have recorded the same person a moment ago from another
    /// connection: those scans are decided again on the careful path.
    fn flush(
        &mut self,
        conn: &mut DbConnection,
        requests: &[CheckinRequest],
        answers: &mut [CheckinAnswer],
    ) -> Result<(), DbError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let mut rows = Vec::with_capacity(pending.len());
        let mut people = Vec::with_capacity(pending.len());
        for &index in &pending {
            let req = &requests[index];
            let Some(participant_id) = answers[index].participant.as_ref().map(|p| p.id) else {
                return Err(DbError::Corrupt(
                    "an accepted scan without a participant".into(),
                ));
            };
            // A plain acceptance with a scan id is kept on the record alone;
            // one with a warning keeps its whole answer in the log.
            let scan_id = req
                .scan_id
                .as_deref()
                .filter(|_| answers[index].warning.is_none());
            people.push((participant_id, index, scan_id.is_some()));
            rows.push(attendance::AttendanceRow {
                event_id: req.event.id,
                participant_id,
                session_id: req.session.as_ref().map(|s| s.id),
                mode: AttendanceMode::Offline.as_str(),
                source: source_of(req).as_str(),
                door: req.door.as_deref(),
                recorded_by: Some(&*req.actor),
                recorded_at: req.now,
                scan_id,
            });
        }
        let inserted = attendance::insert_new(conn, rows)?;
        if inserted.len() == people.len() {
            // The common case: every record is new.
            let carried = people.iter().filter(|(_, _, carries)| *carries);
            self.on_record.extend(carried.map(|(_, index, _)| *index));
            return Ok(());
        }
        let inserted: HashSet<(i32, Option<i32>)> = inserted.into_iter().collect();
        for (participant_id, index, carries_scan_id) in people {
            let req = &requests[index];
            if inserted.contains(&(participant_id, req.session.as_ref().map(|s| s.id))) {
                if carries_scan_id {
                    self.on_record.insert(index);
                }
            } else {
                // A retry later in the batch reads it here (`given`).
                let decided = decide(conn, req)?;
                if decided.on_record {
                    self.on_record.insert(index);
                }
                answers[index] = decided.answer;
            }
        }
        Ok(())
    }
}

const CAME_IN_PERSON: &str = "Registered to attend online: counted in person for this session.";

fn blank_answer(req: &CheckinRequest) -> CheckinAnswer {
    answer_to(
        req.session.as_ref().map(|s| s.slug.clone()),
        req.door.clone(),
        req.scan_id.clone(),
    )
}

/// A rejection with no reason yet, for a scan at `session` through `door`;
/// deciding fills in the rest.
fn answer_to(
    session: Option<String>,
    door: Option<String>,
    scan_id: Option<String>,
) -> CheckinAnswer {
    CheckinAnswer {
        status: CheckinStatus::Rejected,
        reason: None,
        warning: None,
        participant: None,
        session,
        door,
        checked_in_at: None,
        first_checked_in_at: None,
        first_checked_in_local: None,
        first_door: None,
        scan_id,
    }
}

/// Makes `answer` an acceptance counted at `at`.
fn accept(answer: &mut CheckinAnswer, at: i64) {
    answer.status = CheckinStatus::Accepted;
    answer.checked_in_at = Some(timefmt::rfc3339(at));
}

/// Why this participant may not come in here now, if they may not; the
/// same rules on both paths. `registered(session)` says whether they hold a
/// seat there.
fn refusal(
    req: &CheckinRequest,
    p: &Entrant,
    registered: impl FnOnce(i32) -> bool,
) -> Option<RejectReason> {
    if p.is_cancelled() {
        return Some(RejectReason::Cancelled);
    }
    let (opens, closes) = match &req.session {
        Some(s) => (s.starts_at, s.ends_at),
        None => (req.event.starts_at, req.event.ends_at),
    };
    if req.now < opens - req.event.grace_ms() || req.now > closes + req.event.grace_ms() {
        return Some(RejectReason::SessionNotOpen);
    }
    if let Some(session) = &req.session {
        if session.members_only && p.category != Category::MemberRepresentative.as_str() {
            return Some(RejectReason::MembersOnly);
        }
        if !registered(session.id) {
            return Some(RejectReason::NotRegisteredForSession);
        }
    }
    None
}

fn action_of(req: &CheckinRequest) -> &'static str {
    logged_action(source_of(req).as_str())
}

/// The log's action for a record made by `source`: checked in by hand, or
/// a scan.
fn logged_action(source: &str) -> &'static str {
    if source == AttendanceSource::Manual.as_str() {
        "manual"
    } else {
        "scan"
    }
}

#[derive(Insertable)]
#[diesel(table_name = checkin_log, treat_none_as_default_value = false)]
struct LogRow<'a> {
    event_id: i32,
    scan_id: Option<&'a str>,
    session_id: Option<i32>,
    participant_id: Option<i32>,
    door: Option<&'a str>,
    actor: &'a str,
    action: &'static str,
    outcome: &'static str,
    reason: Option<&'static str>,
    answer: String,
    at: i64,
}

/// A logged scan, as much of it as a retry's answer needs.
#[derive(Queryable)]
struct LoggedScan {
    scan_id: Option<String>,
    /// The whole answer, or empty: not kept for a plain acceptance
    /// ([`write_log`]), or erased with the person's data.
    answer: String,
    outcome: String,
    reason: Option<String>,
    session_id: Option<i32>,
    participant_id: Option<i32>,
    door: Option<String>,
    at: i64,
}

/// The answers given at `event_id` to these scan ids, by scan id. One
/// without its answer kept is answered again from its log row, with the
/// person as they are now (after an erasure, no one's name).
fn stored_answers(
    conn: &mut DbConnection,
    event_id: i32,
    scan_ids: Vec<&str>,
) -> Result<HashMap<String, CheckinAnswer>, DbError> {
    // Not `load_each_of!`: with the event's equality on the outside,
    // SQLite may read the event's whole log and look for each row's scan
    // id in the values.
    let logged: Vec<LoggedScan> = crate::load_direct!(
        conn,
        checkin_log::table
            .filter(checkin_log::event_id.eq(event_id))
            .filter(in_batch(checkin_log::scan_id, scan_ids))
            .select((
                checkin_log::scan_id,
                checkin_log::answer,
                checkin_log::outcome,
                checkin_log::reason,
                checkin_log::session_id,
                checkin_log::participant_id,
                checkin_log::door,
                checkin_log::at,
            ))
    )?;
    let (whole, bare): (Vec<LoggedScan>, Vec<LoggedScan>) =
        logged.into_iter().partition(|l| !l.answer.is_empty());
    let mut answers = HashMap::with_capacity(whole.len() + bare.len());
    for logged in whole {
        let answer: CheckinAnswer = serde_json::from_str(&logged.answer)
            .map_err(|e| DbError::Corrupt(format!("stored check-in answer: {e}")))?;
        answers.insert(logged.scan_id.unwrap_or_default(), answer);
    }
    if bare.is_empty() {
        return Ok(answers);
    }
    let people: HashMap<i32, Entrant> = participants::table
        .filter(participants::id.eq_any(bare.iter().filter_map(|l| l.participant_id)))
        .filter(participants::event_id.eq(event_id))
        .select(Entrant::as_select())
        .load(conn)?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let sessions: HashMap<i32, String> = agenda_sessions::table
        .filter(agenda_sessions::id.eq_any(bare.iter().filter_map(|l| l.session_id)))
        .select((agenda_sessions::id, agenda_sessions::slug))
        .load(conn)?
        .into_iter()
        .collect();
    for logged in bare {
        let status = logged_word(&logged.outcome)?;
        let reason = logged.reason.as_deref().map(logged_word).transpose()?;
        let session = logged.session_id.and_then(|id| sessions.get(&id).cloned());
        let mut answer = answer_to(session, logged.door, logged.scan_id.clone());
        answer.reason = reason;
        answer.participant = logged
            .participant_id
            .and_then(|id| people.get(&id))
            .map(card);
        match status {
            CheckinStatus::Accepted => accept(&mut answer, logged.at),
            other => answer.status = other,
        }
        answers.insert(logged.scan_id.unwrap_or_default(), answer);
    }
    Ok(answers)
}

/// An outcome or reason as the log names it (the API's snake_case word).
fn logged_word<'a, T: Deserialize<'a>>(word: &'a str) -> Result<T, DbError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(word))
        .map_err(|e| DbError::Corrupt(format!("logged word {word:?}: {e}")))
}

/// One log row per decided scan, in one statement. A scan id another
/// instance logged a moment ago (a retry sent to both) is left as it is.
fn write_log(
    conn: &mut DbConnection,
    requests: &[CheckinRequest],
    decided: &[(usize, Option<i32>)],
    answers: &[CheckinAnswer],
) -> Result<(), DbError> {
    let mut rows = Vec::with_capacity(decided.len());
    for &(index, participant_id) in decided {
        let (req, answer) = (&requests[index], &answers[index]);
        rows.push(LogRow {
            event_id: req.event.id,
            scan_id: req.scan_id.as_deref(),
            session_id: req.session.as_ref().map(|s| s.id),
            participant_id,
            door: req.door.as_deref(),
            actor: &req.actor,
            action: action_of(req),
            outcome: answer.status.as_str(),
            reason: answer.reason.map(RejectReason::as_str),
            // Kept for replaying a retry, which only a scan id makes
            // possible. A plain acceptance is told again from the row
            // itself (`stored_answers`): most scans are, and their answer
            // was four fifths of the row's bytes.
            answer: match req.scan_id {
                Some(_) if answer.status == CheckinStatus::Accepted && answer.warning.is_none() => {
                    String::new()
                }
                Some(_) => {
                    serde_json::to_string(answer).map_err(|e| DbError::Corrupt(e.to_string()))?
                }
                None => String::new(),
            },
            at: req.now,
        });
    }
    write_in_chunks(&rows, &mut InsertLog(conn))?;
    Ok(())
}

chunk_writer!(InsertLog, LogRow<'_>, usize, execute, |rows| {
    diesel::insert_into(checkin_log::table)
        .values(rows)
        .on_conflict_do_nothing()
});

impl ChunkRow for LogRow<'_> {
    type Key = LogRow<'static>;
    type SqlType = ();

    fn head(out: AstPass<'_, '_, Sqlite>) -> QueryResult<()> {
        use checkin_log::*;
        let columns = [
            event_id::NAME,
            scan_id::NAME,
            session_id::NAME,
            participant_id::NAME,
            door::NAME,
            actor::NAME,
            action::NAME,
            outcome::NAME,
            reason::NAME,
            answer::NAME,
            at::NAME,
        ];
        insert_head(out, "INSERT", "checkin_log", &columns)
    }

    fn values<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_bind_param::<Integer, _>(&self.event_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.scan_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.session_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.participant_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.door)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.action)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.outcome)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.reason)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.answer)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.at)
    }

    fn tail(mut out: AstPass<'_, '_, Sqlite>) -> QueryResult<()> {
        out.push_sql(" ON CONFLICT DO NOTHING");
        Ok(())
    }
}

fn find_subject(conn: &mut DbConnection, req: &CheckinRequest) -> Result<Option<Entrant>, DbError> {
    let query = participants::table.select(Entrant::as_select());
    Ok(match &req.subject {
        Subject::Code(None) => None,
        Subject::Code(Some(code)) => query
            .filter(participants::checkin_code.eq(code.as_str()))
            .first(conn)
            .optional()?,
        Subject::Participant(id) => query
            .filter(participants::id.eq(id))
            .filter(participants::event_id.eq(req.event.id))
            .first(conn)
            .optional()?,
    })
}

fn card(p: &Entrant) -> ParticipantCard {
    ParticipantCard {
        id: p.id,
        name: p.full_name.clone(),
        affiliation: p.affiliation.clone(),
        country: p.country.clone(),
        country_name: Country::name_of(&p.country),
        mode: p.mode.clone(),
        category: p.category.clone(),
    }
}

/// A participant's attendance already on record for a session.
#[derive(Clone, Queryable)]
struct Prior {
    id: i32,
    mode: String,
    door: Option<String>,
    at: i64,
    /// The scan id of the plain acceptance that made the record, when its
    /// log row was not written.
    scan_id: Option<String>,
}

/// A retry of the plain acceptance `prior` carries, told again as it was
/// whatever has changed since, as its log row would have told it.
fn replayed_from_record(req: &CheckinRequest, p: &Entrant, prior: &Prior) -> Option<CheckinAnswer> {
    if prior.scan_id.is_none() || prior.scan_id != req.scan_id {
        return None;
    }
    let mut answer = answer_to(
        req.session.as_ref().map(|s| s.slug.clone()),
        prior.door.clone(),
        req.scan_id.clone(),
    );
    answer.participant = Some(card(p));
    accept(&mut answer, prior.at);
    Some(answer)
}

/// The first attendance of a participant for a session (or event entry).
fn existing(
    conn: &mut DbConnection,
    participant_id: i32,
    session_id: Option<i32>,
) -> Result<Option<Prior>, DbError> {
    let base = att::table
        .filter(att::participant_id.eq(participant_id))
        .select((
            att::id,
            att::mode,
            att::door,
            att::recorded_at,
            att::scan_id,
        ));
    Ok(match session_id {
        Some(id) => base.filter(att::session_id.eq(id)).first(conn).optional()?,
        None => base
            .filter(att::session_id.is_null())
            .first(conn)
            .optional()?,
    })
}

/// What the careful path decided for one scan.
struct Decided {
    answer: CheckinAnswer,
    participant_id: Option<i32>,
    /// The record carries this acceptance (its scan id), so no log row is
    /// due: a plain acceptance just recorded, or a retry of one.
    on_record: bool,
}

impl From<(CheckinAnswer, Option<i32>)> for Decided {
    fn from((answer, participant_id): (CheckinAnswer, Option<i32>)) -> Self {
        Decided {
            answer,
            participant_id,
            on_record: false,
        }
    }
}

/// The careful path: one scan decided with a query per fact, for what the
/// batch's quick path leaves (a record to turn in-person, a seat limit).
fn decide(conn: &mut DbConnection, req: &CheckinRequest) -> Result<Decided, DbError> {
    let tz = timefmt::zone(&req.event.timezone);
    let mut answer = blank_answer(req);
    let reject = |mut answer: CheckinAnswer, reason, participant_id| {
        answer.reason = Some(reason);
        Ok((answer, participant_id).into())
    };

    let Some(p) = find_subject(conn, req)? else {
        return reject(answer, RejectReason::UnknownCode, None);
    };
    if p.event_id != req.event.id {
        // Another event's participant: say so, but show nothing about them.
        return reject(answer, RejectReason::WrongEvent, None);
    }
    answer.participant = Some(card(&p));
    let session_id = req.session.as_ref().map(|s| s.id);
    let prior = existing(conn, p.id, session_id)?;
    if let Some(replayed) = prior
        .as_ref()
        .and_then(|prior| replayed_from_record(req, &p, prior))
    {
        return Ok(Decided {
            answer: replayed,
            participant_id: Some(p.id),
            on_record: true,
        });
    }
    let mut registered = true;
    if let Some(session) = &req.session {
        let seats: i64 = participant_sessions::table
            .filter(participant_sessions::participant_id.eq(p.id))
            .filter(participant_sessions::session_id.eq(session.id))
            .count()
            .get_result(conn)?;
        registered = seats > 0;
    }
    if let Some(reason) = refusal(req, &p, |_| registered) {
        return reject(answer, reason, Some(p.id));
    }

    let online_registrant = p.mode == AttendanceMode::Online.as_str();
    match prior {
        Some(prior) if prior.mode == AttendanceMode::Offline.as_str() => {
            return Ok((duplicate_of(answer, prior, tz), Some(p.id)).into());
        }
        Some(prior) => {
            // Followed online until now, and has walked in: count them in the
            // room from here on (one record per person and session). Only
            // while the record is still online: two doors upgrading it at
            // once (two PostgreSQL writers) would otherwise both say
            // accepted — the second waits for the first's row lock, then
            // finds it in person already.
            let upgraded = diesel::update(
                att::table
                    .find(prior.id)
                    .filter(att::mode.eq(AttendanceMode::Online.as_str())),
            )
            .set((
                att::mode.eq(AttendanceMode::Offline.as_str()),
                att::source.eq(source_of(req).as_str()),
                att::door.eq(req.door.as_deref()),
                att::recorded_by.eq(Some(&*req.actor)),
                att::recorded_at.eq(req.now),
            ))
            .execute(conn)?;
            if upgraded == 1 {
                accept(&mut answer, req.now);
                answer.warning = Some("Was following online: now counted in person.".to_string());
                return Ok((answer, Some(p.id)).into());
            }
            // Another door got there first (or an undo took the record
            // away, and the insert below counts them).
            if let Some(now_in_person) = existing(conn, p.id, session_id)? {
                return Ok((duplicate_of(answer, now_in_person, tz), Some(p.id)).into());
            }
        }
        None => {}
    }

    if let Some(session) = &req.session {
        if let Some(capacity) = session.capacity_offline {
            // Lock the session row, then count: two doors can't both take
            // the last seat.
            diesel::update(agenda_sessions::table.find(session.id))
                .set(agenda_sessions::id.eq(agenda_sessions::id))
                .execute(conn)?;
            let inside = super::stats::in_person_records(conn, req.event.id, session.id)?;
            if inside >= i64::from(capacity) {
                return reject(answer, RejectReason::SessionFull, Some(p.id));
            }
        }
    }

    // A plain acceptance with a scan id is kept on the record alone.
    let scan_id = req.scan_id.as_deref().filter(|_| !online_registrant);
    let counted = attendance::record(
        conn,
        &NewAttendance {
            event_id: req.event.id,
            participant_id: p.id,
            session_id,
            mode: AttendanceMode::Offline,
            source: source_of(req),
            door: req.door.as_deref(),
            recorded_by: Some(&*req.actor),
            recorded_at: req.now,
            scan_id,
        },
    )?;
    if counted {
        accept(&mut answer, req.now);
        if online_registrant {
            answer.warning = Some(CAME_IN_PERSON.to_string());
        }
        return Ok(Decided {
            answer,
            participant_id: Some(p.id),
            on_record: scan_id.is_some(),
        });
    }
    if let Some(prior) = existing(conn, p.id, session_id)? {
        // Another door counted them between our look and our insert: or
        // another instance, given the same scan's retry.
        if let Some(replayed) = replayed_from_record(req, &p, &prior) {
            return Ok(Decided {
                answer: replayed,
                participant_id: Some(p.id),
                on_record: true,
            });
        }
        return Ok((duplicate_of(answer, prior, tz), Some(p.id)).into());
    }
    Ok((answer, Some(p.id)).into())
}

fn duplicate_of(mut answer: CheckinAnswer, prior: Prior, tz: chrono_tz::Tz) -> CheckinAnswer {
    answer.status = CheckinStatus::Duplicate;
    answer.first_checked_in_at = Some(timefmt::rfc3339(prior.at));
    answer.first_checked_in_local = Some(timefmt::clock(prior.at, tz));
    answer.first_door = prior.door;
    answer
}

fn source_of(req: &CheckinRequest) -> AttendanceSource {
    match req.subject {
        Subject::Code(_) => AttendanceSource::DoorScan,
        Subject::Participant(_) => AttendanceSource::Manual,
    }
}

/// Takes back a counted attendance: the record goes (counts drop at once),
/// the log keeps what happened: first the acceptance, when only the record
/// carried it (so a late retry of that scan is still told "accepted" and
/// records nothing), then the undo. `false` when there was nothing to undo.
pub fn undo_checkin(
    conn: &mut DbConnection,
    event: &Event,
    participant_id: i32,
    session: Option<&AgendaSession>,
    actor: &str,
    now: i64,
) -> Result<bool, DbError> {
    super::write_transaction(conn, |conn| {
        let session_id = session.map(|s| s.id);
        let target = att::table
            .filter(att::event_id.eq(event.id))
            .filter(att::participant_id.eq(participant_id));
        let session_is = match session_id {
            Some(id) => format!("session_id = {id}"),
            None => "session_id IS NULL".to_string(),
        };
        log_carried_acceptances(
            conn,
            &format!(
                "event_id = {} AND participant_id = {participant_id} AND {session_is}",
                event.id
            ),
        )?;
        let removed = match session_id {
            Some(id) => diesel::delete(target.filter(att::session_id.eq(id))).execute(conn)?,
            None => diesel::delete(target.filter(att::session_id.is_null())).execute(conn)?,
        };
        if removed == 0 {
            return Ok(false);
        }
        diesel::insert_into(checkin_log::table)
            .values((
                checkin_log::event_id.eq(event.id),
                checkin_log::session_id.eq(session_id),
                checkin_log::participant_id.eq(Some(participant_id)),
                checkin_log::actor.eq(actor),
                checkin_log::action.eq("undo"),
                checkin_log::outcome.eq("undone"),
                checkin_log::answer.eq("{}"),
                checkin_log::at.eq(now),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Writes the log rows the records matching `records_where` (SQL over
/// attendance, built from integers only) kept back, and takes the scan ids
/// off the records: before an undo deletes a record, and before an erasure
/// retires the code a retry would find the person by. A retry of the scan
/// is then told again from its log row, as any other.
pub(super) fn log_carried_acceptances(
    conn: &mut DbConnection,
    records_where: &str,
) -> Result<usize, DbError> {
    let carried = format!("{records_where} AND scan_id IS NOT NULL");
    let logged = diesel::sql_query(format!(
        "INSERT INTO checkin_log \
             (event_id, scan_id, session_id, participant_id, door, actor, action, outcome, answer, at) \
         SELECT event_id, scan_id, session_id, participant_id, door, COALESCE(recorded_by, ''), \
                CASE WHEN source = '{manual}' THEN '{by_hand}' ELSE '{scan}' END, '{accepted}', '', \
                recorded_at \
         FROM attendance WHERE {carried} \
         ON CONFLICT DO NOTHING",
        manual = AttendanceSource::Manual.as_str(),
        by_hand = logged_action(AttendanceSource::Manual.as_str()),
        scan = logged_action(AttendanceSource::DoorScan.as_str()),
        accepted = CheckinStatus::Accepted.as_str(),
    ))
    .execute(conn)?;
    diesel::sql_query(format!(
        "UPDATE attendance SET scan_id = NULL WHERE {carried}"
    ))
    .execute(conn)?;
    Ok(logged)
}

/// One line of the check-in log, for the organisers' log page.
#[derive(Debug, Queryable)]
pub struct LogEntry {
    /// The log row's id, or the record's for an acceptance it carries.
    pub id: i32,
    pub at: i64,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub door: Option<String>,
    pub actor: String,
    pub participant_id: Option<i32>,
    pub participant_name: Option<String>,
    pub session_slug: Option<String>,
}

/// A plain acceptance its attendance record carries, as the log page shows it.
#[derive(Queryable)]
struct CarriedAcceptance {
    id: i32,
    at: i64,
    source: String,
    door: Option<String>,
    recorded_by: Option<String>,
    participant_id: i32,
    participant_name: String,
    session_slug: Option<String>,
}

/// The newest `limit` lines of an event's check-in log: the log's rows,
/// and the plain acceptances only their records carry (by scan id).
pub fn recent_log(
    conn: &mut DbConnection,
    event_id: i32,
    limit: i64,
) -> Result<Vec<LogEntry>, DbError> {
    super::read_snapshot(conn, |conn| {
        let mut entries: Vec<LogEntry> = checkin_log::table
            .left_join(
                participants::table.on(participants::id.nullable().eq(checkin_log::participant_id)),
            )
            .left_join(
                agenda_sessions::table
                    .on(agenda_sessions::id.nullable().eq(checkin_log::session_id)),
            )
            .filter(checkin_log::event_id.eq(event_id))
            // Newest first in the order of the log's (event_id, at) index, so
            // the page reads `limit` rows of it: ordered by id alone, SQLite
            // sorted the event's whole log first (1.3 s at 677,000 rows; now 2 ms).
            .order((checkin_log::at.desc(), checkin_log::id.desc()))
            .limit(limit)
            .select((
                checkin_log::id,
                checkin_log::at,
                checkin_log::action,
                checkin_log::outcome,
                checkin_log::reason,
                checkin_log::door,
                checkin_log::actor,
                checkin_log::participant_id,
                participants::full_name.nullable(),
                agenda_sessions::slug.nullable(),
            ))
            .load(conn)?;
        // The same way through attendance's (event_id, recorded_at) index.
        let carried: Vec<CarriedAcceptance> = att::table
            .inner_join(participants::table)
            .left_join(
                agenda_sessions::table.on(agenda_sessions::id.nullable().eq(att::session_id)),
            )
            .filter(att::event_id.eq(event_id))
            .filter(att::scan_id.is_not_null())
            .order((att::recorded_at.desc(), att::id.desc()))
            .limit(limit)
            .select((
                att::id,
                att::recorded_at,
                att::source,
                att::door,
                att::recorded_by,
                att::participant_id,
                participants::full_name,
                agenda_sessions::slug.nullable(),
            ))
            .load(conn)?;
        entries.extend(carried.into_iter().map(|c| LogEntry {
            id: c.id,
            at: c.at,
            action: logged_action(&c.source).into(),
            outcome: CheckinStatus::Accepted.as_str().into(),
            reason: None,
            door: c.door,
            actor: c.recorded_by.unwrap_or_default(),
            participant_id: Some(c.participant_id),
            participant_name: Some(c.participant_name),
            session_slug: c.session_slug,
        }));
        entries.sort_by_key(|e| std::cmp::Reverse(e.at));
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(entries)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{record_statements, sqlite_plan};

    /// The admin's scan log shows the newest scans first, the plain
    /// acceptances only their records carry among them, and reads both
    /// from an index: a big event's log isn't sorted for one page.
    #[test]
    fn the_scan_log_reads_its_newest_rows_from_the_index() {
        let mut conn = crate::db::testing::forum(
            ":memory:",
            "INSERT INTO checkin_log (event_id, actor, action, outcome, answer, at) VALUES \
             (1, 'door', 'scan', 'accepted', '', 10), (1, 'door', 'scan', 'rejected', '', 30), \
             (1, 'door', 'scan', 'duplicate', '', 30), (1, 'door', 'scan', 'accepted', '', 20); \
             INSERT INTO participants (id, event_id, full_name, email, affiliation, country, mode, \
                                       category, status, checkin_code, page_token, created_at) VALUES \
             (1, 1, 'A', 'a@x', '', 'DE', 'offline', 'delegate', 'registered', 'c1', 't1', 0), \
             (2, 1, 'B', 'b@x', '', 'FR', 'online', 'delegate', 'registered', 'c2', 't2', 0); \
             INSERT INTO attendance (event_id, participant_id, session_id, mode, source, door, \
                                     recorded_by, recorded_at, scan_id) VALUES \
             (1, 1, NULL, 'offline', 'door_scan', 'North', 'door', 25, 's-1'), \
             (1, 2, NULL, 'online', 'join_link', NULL, NULL, 40, NULL);",
        );
        let statements = record_statements(&mut conn);

        let newest = recent_log(&mut conn, 1, 3).unwrap();
        let shown: Vec<(i64, &str, Option<&str>)> = newest
            .iter()
            .map(|e| (e.at, e.outcome.as_str(), e.participant_name.as_deref()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (30, "duplicate", None),
                (30, "rejected", None),
                (25, "accepted", Some("A"))
            ]
        );
        assert_eq!(newest[2].door.as_deref(), Some("North"));
        assert_eq!(newest[2].action, "scan");

        let statements = statements.lock().unwrap().clone();
        let plans: Vec<Vec<String>> = ["FROM ((`checkin_log`", "FROM ((`attendance`"]
            .iter()
            .map(|table| {
                let sql = statements
                    .iter()
                    .find(|s| s.contains(table))
                    .unwrap_or_else(|| panic!("no statement {table}: {statements:?}"));
                sqlite_plan(&mut conn, sql)
            })
            .collect();
        for (plan, index) in plans.iter().zip([
            "SEARCH checkin_log USING INDEX checkin_log_event_at",
            "SEARCH attendance USING INDEX attendance_event_time",
        ]) {
            assert!(plan.iter().any(|s| s.starts_with(index)), "{plan:?}");
            assert!(!plan.iter().any(|s| s.contains("TEMP B-TREE")), "{plan:?}");
        }
    }
}
