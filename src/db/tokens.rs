//! Device tokens for door phones, hall screens and API clients. Only a
//! SHA-256 of each token is stored; the token is shown once at creation.

use super::schema::{device_token_sessions, device_tokens};
use super::{DbConnection, DbError};
use crate::with_backend;
use diesel::prelude::*;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = device_tokens)]
pub struct DeviceToken {
    pub id: i32,
    pub event_id: i32,
    pub label: String,
    pub role: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// How stale `last_used_at` may get before a request writes it again: a
/// busy door shouldn't turn every scan into an extra write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

pub struct NewToken<'a> {
    pub event_id: i32,
    pub label: &'a str,
    pub role: &'a str,
    pub token_hash: &'a str,
    pub created_by: &'a str,
    pub session_ids: &'a [i32],
    pub now: i64,
}

pub fn create(conn: &mut DbConnection, new: &NewToken) -> Result<i32, DbError> {
    super::write_transaction(conn, |conn| {
        let id = with_backend!(conn, |c| diesel::insert_into(device_tokens::table)
            .values((
                device_tokens::event_id.eq(new.event_id),
                device_tokens::label.eq(new.label),
                device_tokens::role.eq(new.role),
                device_tokens::token_hash.eq(new.token_hash),
                device_tokens::created_by.eq(new.created_by),
                device_tokens::created_at.eq(new.now),
            ))
            .returning(device_tokens::id)
            .get_result::<i32>(c))?;
        for session_id in new.session_ids {
            diesel::insert_into(device_token_sessions::table)
                .values((
                    device_token_sessions::token_id.eq(id),
                    device_token_sessions::session_id.eq(session_id),
                ))
                .execute(conn)?;
        }
        Ok(id)
    })
}

/// A live (not revoked) token by its hash, with the sessions it is limited
/// to (empty: all), and its last-used time brought up to date.
pub fn authenticate(
    conn: &mut DbConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<(DeviceToken, Vec<i32>)>, DbError> {
    Ok(authenticate_many(conn, &[token_hash], now)?.remove(token_hash))
}

/// [`authenticate`] for many tokens at once (a batch of door scans): the
/// live ones found, by hash. A token's `last_used_at` is written only when it
/// is more than a minute old, so a busy door doesn't turn every scan into a
/// write.
pub fn authenticate_many(
    conn: &mut DbConnection,
    token_hashes: &[&str],
    now: i64,
) -> Result<std::collections::HashMap<String, (DeviceToken, Vec<i32>)>, DbError> {
    let mut found = std::collections::HashMap::new();
    if token_hashes.is_empty() {
        return Ok(found);
    }
    let tokens: Vec<(String, DeviceToken)> = crate::load_each_of!(
        conn,
        json_texts,
        device_tokens::table,
        device_tokens::token_hash,
        token_hashes.to_vec(),
        |q| q
            .filter(device_tokens::revoked_at.is_null())
            .select((device_tokens::token_hash, DeviceToken::as_select()))
    )?;
    let ids: Vec<i32> = tokens.iter().map(|(_, t)| t.id).collect();
    let stale: Vec<i32> = tokens
        .iter()
        .filter(|(_, t)| {
            t.last_used_at
                .is_none_or(|at| now - at > LAST_USED_RESOLUTION_MS)
        })
        .map(|(_, t)| t.id)
        .collect();
    if !stale.is_empty() {
        diesel::update(device_tokens::table.filter(device_tokens::id.eq_any(&stale)))
            .set(device_tokens::last_used_at.eq(Some(now)))
            .execute(conn)?;
    }
    let limits: Vec<(i32, i32)> = crate::load_each_of!(
        conn,
        json_integers,
        device_token_sessions::table,
        device_token_sessions::token_id,
        ids,
        |q| q.select((
            device_token_sessions::token_id,
            device_token_sessions::session_id,
        ))
    )?;
    for (hash, token) in tokens {
        let sessions = limits
            .iter()
            .filter(|(t, _)| *t == token.id)
            .map(|(_, s)| *s)
            .collect();
        found.insert(hash, (token, sessions));
    }
    Ok(found)
}

pub fn list_for_event(conn: &mut DbConnection, event_id: i32) -> Result<Vec<DeviceToken>, DbError> {
    Ok(device_tokens::table
        .filter(device_tokens::event_id.eq(event_id))
        .order(device_tokens::created_at.desc())
        .select(DeviceToken::as_select())
        .load(conn)?)
}

/// `false` when there was no live token with that id at the event.
pub fn revoke(
    conn: &mut DbConnection,
    event_id: i32,
    token_id: i32,
    now: i64,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        device_tokens::table
            .filter(device_tokens::id.eq(token_id))
            .filter(device_tokens::event_id.eq(event_id))
            .filter(device_tokens::revoked_at.is_null()),
    )
    .set(device_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(changed == 1)
}
