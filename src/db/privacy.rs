//! Erasing personal data. A participant's row stays, anonymous: name, email,
//! affiliation and both secrets are replaced, and the check-in log's stored
//! answers (which carry the name) are emptied. Country, mode, category,
//! seats and attendance stay, so every count stays true.

use super::schema::{checkin_log, events, participants};
use super::{DbConnection, DbError};
use crate::domain::PageToken;
use diesel::prelude::*;

/// The name an erased participant shows under (the recent list, the log).
pub const ERASED_NAME: &str = "Erased participant";

/// Overwrites the personal fields of the participants `which` selects.
/// The replacement secrets (`erased-<id>`) are not valid codes or tokens, so
/// no badge or link can ever match them again.
fn anonymise(conn: &mut DbConnection, which: &str, now_ms: i64) -> Result<usize, DbError> {
    let folded = crate::domain::fold_for_search(ERASED_NAME);
    let sql = format!(
        "UPDATE participants SET full_name = '{ERASED_NAME}', name_folded = '{folded}', \
                email = 'erased-' || CAST(id AS TEXT) || '@invalid', affiliation = '', \
                checkin_code = 'erased-' || CAST(id AS TEXT), \
                page_token = 'erased-' || CAST(id AS TEXT), anonymised_at = {now_ms} \
         WHERE anonymised_at IS NULL AND {which}"
    );
    Ok(diesel::sql_query(sql).execute(conn)?)
}

/// A registrant erases their own data. Before the event has ended this also
/// cancels the registration (they won't come, and their seats free up);
/// afterwards their attendance keeps counting, anonymously. The event's id,
/// or `None` when the token matched no one.
pub fn erase_by_page_token(
    conn: &mut DbConnection,
    token: &PageToken,
    now_ms: i64,
) -> Result<Option<i32>, DbError> {
    super::write_transaction(conn, |conn| {
        let found: Option<(i32, i32, i64)> = participants::table
            .inner_join(events::table)
            .filter(participants::page_token.eq(token.as_str()))
            .select((participants::id, events::id, events::ends_at))
            .first(conn)
            .optional()?;
        let Some((participant_id, event_id, ends_at)) = found else {
            return Ok(None);
        };
        if ends_at > now_ms {
            diesel::update(
                participants::table
                    .find(participant_id)
                    .filter(participants::status.eq("registered")),
            )
            .set((
                participants::status.eq("cancelled"),
                participants::cancelled_at.eq(Some(now_ms)),
            ))
            .execute(conn)?;
        }
        // Their code goes: a retry of their scan is answered from the log.
        super::checkins::log_carried_acceptances(
            conn,
            &format!("participant_id = {participant_id}"),
        )?;
        diesel::update(checkin_log::table.filter(checkin_log::participant_id.eq(participant_id)))
            .set(checkin_log::answer.eq(""))
            .execute(conn)?;
        anonymise(conn, &format!("id = {participant_id}"), now_ms)?;
        Ok(Some(event_id))
    })
}

/// An organiser erases everyone's personal data at an event that has ended;
/// how many participants were erased now.
pub fn purge_event(conn: &mut DbConnection, event_id: i32, now_ms: i64) -> Result<usize, DbError> {
    super::write_transaction(conn, |conn| {
        super::checkins::log_carried_acceptances(conn, &format!("event_id = {event_id}"))?;
        diesel::update(checkin_log::table.filter(checkin_log::event_id.eq(event_id)))
            .set(checkin_log::answer.eq(""))
            .execute(conn)?;
        anonymise(conn, &format!("event_id = {event_id}"), now_ms)
    })
}
