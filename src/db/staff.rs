//! Staff accounts. Passwords arrive here already hashed (auth::password).

use super::schema::staff_users;
use super::{DbConnection, DbError};
use diesel::prelude::*;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = staff_users)]
pub struct StaffUser {
    pub id: i32,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
    /// Limited to this event; `None`: every event.
    pub event_id: Option<i32>,
}

/// `false` when the username is taken.
pub fn create(
    conn: &mut DbConnection,
    username: &str,
    password_hash: &str,
    role: &str,
    event_id: Option<i32>,
    now: i64,
) -> Result<bool, DbError> {
    let inserted = diesel::insert_into(staff_users::table)
        .values((
            staff_users::username.eq(username),
            staff_users::password_hash.eq(password_hash),
            staff_users::role.eq(role),
            staff_users::event_id.eq(event_id),
            staff_users::created_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn find_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<StaffUser>, DbError> {
    Ok(staff_users::table
        .filter(staff_users::username.eq(username))
        .select(StaffUser::as_select())
        .first(conn)
        .optional()?)
}

pub fn find(conn: &mut DbConnection, id: i32) -> Result<Option<StaffUser>, DbError> {
    Ok(staff_users::table
        .find(id)
        .select(StaffUser::as_select())
        .first(conn)
        .optional()?)
}

/// `false` when there is no such user.
pub fn set_password(
    conn: &mut DbConnection,
    username: &str,
    password_hash: &str,
) -> Result<bool, DbError> {
    let changed = diesel::update(staff_users::table.filter(staff_users::username.eq(username)))
        .set(staff_users::password_hash.eq(password_hash))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<StaffUser>, DbError> {
    Ok(staff_users::table
        .order(staff_users::username)
        .select(StaffUser::as_select())
        .load(conn)?)
}

pub fn any_admin(conn: &mut DbConnection) -> Result<bool, DbError> {
    let n: i64 = staff_users::table
        .filter(staff_users::role.eq("admin"))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
