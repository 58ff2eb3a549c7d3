//! Door check-in: one transaction decides the answer to a scan, records the
//! attendance, and writes the scan to the log. The database's unique indexes
//! decide races; Rust never reads-then-writes to count someone.

use super::attendance::{self, NewAttendance};
use super::events::{AgendaSession, Event};
use super::participants::Participant;
use super::schema::{
    agenda_sessions, attendance as att, checkin_log, participant_sessions, participants,
};
use super::{DbConnection, DbError};
use crate::domain::{
    AttendanceMode, AttendanceSource, Category, CheckinAnswer, CheckinCode, CheckinStatus, Country,
    ParticipantCard, RejectReason,
};
use crate::timefmt;
use crate::with_backend;
use diesel::prelude::*;

/// Who is being checked in: a scanned code, or a person picked by name
/// (manual check-in for a forgotten phone).
pub enum Subject {
    /// `None`: what was scanned is not a Rollcall code at all (logged, and
    /// answered like an unknown code).
    Code(Option<CheckinCode>),
    Participant(i32),
}

pub struct CheckinRequest {
    pub event: Event,
    /// `None`: entry to the event itself.
    pub session: Option<AgendaSession>,
    pub subject: Subject,
    pub door: Option<String>,
    pub scan_id: Option<String>,
    /// Device label or staff username, for the log.
    pub actor: String,
    pub now: i64,
}

/// Decides and records one scan. A retry with a `scan_id` already seen for
/// the event returns the stored answer and records nothing.
pub fn record_checkin(
    conn: &mut DbConnection,
    req: &CheckinRequest,
) -> Result<CheckinAnswer, DbError> {
    super::write_transaction(conn, |conn| {
        // Claim the scan id first: a concurrent retry waits on this row (on
        // PostgreSQL) or on the write lock (SQLite), then finds the answer.
        let log_id = match &req.scan_id {
            Some(scan_id) => match claim_scan_id(conn, req, scan_id)? {
                Some(id) => Some(id),
                None => return stored_answer(conn, req.event.id, scan_id),
            },
            None => None,
        };
        let (answer, participant_id) = decide(conn, req)?;
        write_log(conn, req, log_id, &answer, participant_id)?;
        if answer.status == CheckinStatus::Accepted {
            super::notify_live(conn, req.event.id)?;
        }
        Ok(answer)
    })
}

fn claim_scan_id(
    conn: &mut DbConnection,
    req: &CheckinRequest,
    scan_id: &str,
) -> Result<Option<i32>, DbError> {
    let claimed: Option<i32> = with_backend!(conn, |c| diesel::insert_into(checkin_log::table)
        .values((
            checkin_log::event_id.eq(req.event.id),
            checkin_log::scan_id.eq(scan_id),
            checkin_log::actor.eq(&req.actor),
            checkin_log::action.eq(action_of(req)),
            checkin_log::outcome.eq("pending"),
            checkin_log::answer.eq(""),
            checkin_log::at.eq(req.now),
        ))
        .on_conflict_do_nothing()
        .returning(checkin_log::id)
        .get_result::<i32>(c)
        .optional())?;
    Ok(claimed)
}

fn stored_answer(
    conn: &mut DbConnection,
    event_id: i32,
    scan_id: &str,
) -> Result<CheckinAnswer, DbError> {
    let stored: String = checkin_log::table
        .filter(checkin_log::event_id.eq(event_id))
        .filter(checkin_log::scan_id.eq(scan_id))
        .select(checkin_log::answer)
        .first(conn)?;
    serde_json::from_str(&stored)
        .map_err(|e| DbError::Corrupt(format!("stored check-in answer: {e}")))
}

fn action_of(req: &CheckinRequest) -> &'static str {
    match req.subject {
        Subject::Code(_) => "scan",
        Subject::Participant(_) => "manual",
    }
}

fn write_log(
    conn: &mut DbConnection,
    req: &CheckinRequest,
    claimed: Option<i32>,
    answer: &CheckinAnswer,
    participant_id: Option<i32>,
) -> Result<(), DbError> {
    let json = serde_json::to_string(answer).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let outcome = match answer.status {
        CheckinStatus::Accepted => "accepted",
        CheckinStatus::Duplicate => "duplicate",
        CheckinStatus::Rejected => "rejected",
    };
    let reason = answer.reason.map(RejectReason::as_str);
    let session_id = req.session.as_ref().map(|s| s.id);
    match claimed {
        Some(id) => {
            diesel::update(checkin_log::table.find(id))
                .set((
                    checkin_log::session_id.eq(session_id),
                    checkin_log::participant_id.eq(participant_id),
                    checkin_log::door.eq(req.door.as_deref()),
                    checkin_log::outcome.eq(outcome),
                    checkin_log::reason.eq(reason),
                    checkin_log::answer.eq(&json),
                ))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(checkin_log::table)
                .values((
                    checkin_log::event_id.eq(req.event.id),
                    checkin_log::session_id.eq(session_id),
                    checkin_log::participant_id.eq(participant_id),
                    checkin_log::door.eq(req.door.as_deref()),
                    checkin_log::actor.eq(&req.actor),
                    checkin_log::action.eq(action_of(req)),
                    checkin_log::outcome.eq(outcome),
                    checkin_log::reason.eq(reason),
                    checkin_log::answer.eq(&json),
                    checkin_log::at.eq(req.now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

fn find_subject(
    conn: &mut DbConnection,
    req: &CheckinRequest,
) -> Result<Option<Participant>, DbError> {
    let query = participants::table.select(Participant::as_select());
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

fn card(p: &Participant) -> ParticipantCard {
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
#[derive(Queryable)]
struct Prior {
    id: i32,
    mode: String,
    door: Option<String>,
    at: i64,
}

/// The first attendance of a participant for a session (or event entry).
fn existing(
    conn: &mut DbConnection,
    participant_id: i32,
    session_id: Option<i32>,
) -> Result<Option<Prior>, DbError> {
    let base = att::table
        .filter(att::participant_id.eq(participant_id))
        .select((att::id, att::mode, att::door, att::recorded_at));
    Ok(match session_id {
        Some(id) => base.filter(att::session_id.eq(id)).first(conn).optional()?,
        None => base
            .filter(att::session_id.is_null())
            .first(conn)
            .optional()?,
    })
}

fn decide(
    conn: &mut DbConnection,
    req: &CheckinRequest,
) -> Result<(CheckinAnswer, Option<i32>), DbError> {
    let tz = timefmt::zone(&req.event.timezone);
    let mut answer = CheckinAnswer {
        status: CheckinStatus::Rejected,
        reason: None,
        warning: None,
        participant: None,
        session: req.session.as_ref().map(|s| s.slug.clone()),
        door: req.door.clone(),
        checked_in_at: None,
        first_checked_in_at: None,
        first_checked_in_local: None,
        first_door: None,
        scan_id: req.scan_id.clone(),
    };
    let reject = |mut answer: CheckinAnswer, reason, participant_id| {
        answer.reason = Some(reason);
        Ok((answer, participant_id))
    };

    let Some(p) = find_subject(conn, req)? else {
        return reject(answer, RejectReason::UnknownCode, None);
    };
    if p.event_id != req.event.id {
        // Another event's participant: say so, but show nothing about them.
        return reject(answer, RejectReason::WrongEvent, None);
    }
    answer.participant = Some(card(&p));
    if p.is_cancelled() {
        return reject(answer, RejectReason::Cancelled, Some(p.id));
    }
    let (opens, closes) = match &req.session {
        Some(s) => (s.starts_at, s.ends_at),
        None => (req.event.starts_at, req.event.ends_at),
    };
    if req.now < opens - req.event.grace_ms() || req.now > closes + req.event.grace_ms() {
        return reject(answer, RejectReason::SessionNotOpen, Some(p.id));
    }
    let session_id = req.session.as_ref().map(|s| s.id);
    if let Some(session) = &req.session {
        if session.members_only && p.category != Category::MemberRepresentative.as_str() {
            return reject(answer, RejectReason::MembersOnly, Some(p.id));
        }
        let registered: i64 = participant_sessions::table
            .filter(participant_sessions::participant_id.eq(p.id))
            .filter(participant_sessions::session_id.eq(session.id))
            .count()
            .get_result(conn)?;
        if registered == 0 {
            return reject(answer, RejectReason::NotRegisteredForSession, Some(p.id));
        }
    }

    let online_registrant = p.mode == AttendanceMode::Online.as_str();
    let came_in_person_warning =
        || Some("Registered to attend online: counted in person for this session.".to_string());
    match existing(conn, p.id, session_id)? {
        Some(prior) if prior.mode == AttendanceMode::Offline.as_str() => {
            return Ok((duplicate_of(answer, prior, tz), Some(p.id)));
        }
        Some(prior) => {
            // Followed online until now, and has walked in: count them in the
            // room from here on (one record per person and session).
            diesel::update(att::table.find(prior.id))
                .set((
                    att::mode.eq(AttendanceMode::Offline.as_str()),
                    att::source.eq(source_of(req).as_str()),
                    att::door.eq(req.door.as_deref()),
                    att::recorded_by.eq(Some(&req.actor)),
                    att::recorded_at.eq(req.now),
                ))
                .execute(conn)?;
            answer.status = CheckinStatus::Accepted;
            answer.checked_in_at = Some(timefmt::rfc3339(req.now));
            answer.warning = Some("Was following online: now counted in person.".to_string());
            return Ok((answer, Some(p.id)));
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
            let inside: i64 = att::table
                .filter(att::session_id.eq(session.id))
                .filter(att::mode.eq(AttendanceMode::Offline.as_str()))
                .count()
                .get_result(conn)?;
            if inside >= i64::from(capacity) {
                return reject(answer, RejectReason::SessionFull, Some(p.id));
            }
        }
    }

    let counted = attendance::record(
        conn,
        &NewAttendance {
            event_id: req.event.id,
            participant_id: p.id,
            session_id,
            mode: AttendanceMode::Offline,
            source: source_of(req),
            door: req.door.as_deref(),
            recorded_by: Some(&req.actor),
            recorded_at: req.now,
        },
    )?;
    if counted {
        answer.status = CheckinStatus::Accepted;
        answer.checked_in_at = Some(timefmt::rfc3339(req.now));
        if online_registrant {
            answer.warning = came_in_person_warning();
        }
    } else if let Some(prior) = existing(conn, p.id, session_id)? {
        // Another door counted them between our look and our insert.
        return Ok((duplicate_of(answer, prior, tz), Some(p.id)));
    }
    Ok((answer, Some(p.id)))
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
/// the log keeps what happened. `false` when there was nothing to undo.
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
        let removed = match session_id {
            Some(id) => diesel::delete(target.filter(att::session_id.eq(id))).execute(conn)?,
            None => diesel::delete(target.filter(att::session_id.is_null())).execute(conn)?,
        };
        if removed == 0 {
            return Ok(false);
        }
        super::notify_live(conn, event.id)?;
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

/// One line of the check-in log, for the organisers' log page.
#[derive(Debug, Queryable)]
pub struct LogEntry {
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

pub fn recent_log(
    conn: &mut DbConnection,
    event_id: i32,
    limit: i64,
) -> Result<Vec<LogEntry>, DbError> {
    Ok(checkin_log::table
        .left_join(
            participants::table.on(participants::id.nullable().eq(checkin_log::participant_id)),
        )
        .left_join(
            agenda_sessions::table.on(agenda_sessions::id.nullable().eq(checkin_log::session_id)),
        )
        .filter(checkin_log::event_id.eq(event_id))
        .order(checkin_log::id.desc())
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
        .load(conn)?)
}
