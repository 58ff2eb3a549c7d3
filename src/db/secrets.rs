//! Server-side secrets kept in the database, so a deployment needs no key
//! configuration and signed tokens survive a restart.

use super::schema::app_secrets;
use super::{DbConnection, DbError};
use diesel::prelude::*;
use rand::RngCore;

/// The named secret, created (64 random bytes, hex) on first use. Two
/// instances starting at once agree: the loser of the insert race reads the
/// winner's value.
pub fn get_or_create(conn: &mut DbConnection, name: &str) -> Result<Vec<u8>, DbError> {
    let existing: Option<String> = app_secrets::table
        .find(name)
        .select(app_secrets::value)
        .first(conn)
        .optional()?;
    let hex = match existing {
        Some(hex) => hex,
        None => {
            let mut bytes = [0u8; 64];
            rand::rng().fill_bytes(&mut bytes);
            let fresh = data_encoding::HEXLOWER.encode(&bytes);
            let inserted = diesel::insert_into(app_secrets::table)
                .values((app_secrets::name.eq(name), app_secrets::value.eq(&fresh)))
                .execute(conn);
            match inserted {
                Ok(_) => fresh,
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => app_secrets::table
                    .find(name)
                    .select(app_secrets::value)
                    .first(conn)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    data_encoding::HEXLOWER
        .decode(hex.as_bytes())
        .map_err(|_| DbError::Migration(format!("the stored secret {name} is not hex")))
}
